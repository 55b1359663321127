"""A sample tool function the tool tests share: every kind of argument a
tool function may take (constrained, literal, enum, model, optional, and a
name that shadows a ``BaseModel`` attribute), documented Google-style."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Literal

from pydantic import BaseModel, Field


class Colour(Enum):
    RED = "red"
    BLUE = "blue"


class Point(BaseModel):
    x: int
    y: int = 0


def sample(
    title: str,
    count: Annotated[int, Field(ge=1, le=20)] = 5,
    mode: Literal["fast", "careful"] = "fast",
    colour: Colour = Colour.RED,
    where: Point | None = None,
    json: str = "",
) -> str:
    """Do a sample thing.

    This second paragraph is not part of the description.

    Args:
        title: The title of the thing,
            which goes on for two lines.
        count: How many (1 to 20).
        mode: How to go about it.

    Returns:
        A summary.
    """
    point = f"{where.x},{where.y}" if where else "-"
    return f"{title}|{count}|{mode}|{colour.value}|{point}|{json}"
