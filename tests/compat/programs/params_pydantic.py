"""A pydantic model as a flow parameter; a dict is coerced into the model."""

from prefect import flow
from pydantic import BaseModel


class Order(BaseModel):
    item: str
    quantity: int = 1
    price: float


@flow
def total(order: Order) -> float:
    return round(order.quantity * order.price, 2)


if __name__ == "__main__":
    print(total(Order(item="pen", quantity=3, price=1.5)))
    print(total({"item": "ink", "quantity": "2", "price": "4.25"}))
