"""Draw a flame graph (SVG) from folded stacks, as ``py-spy record --format raw`` writes.

    svg = flame_svg(Path("service.txt").read_text(), title="/score under load")

A folded line is a call stack, outermost frame first, separated by ``;``,
then a space and the number of samples that ended in it. The graph stacks
one box per frame on top of its caller: a box is as wide as the samples
that passed through it, so the wide boxes are where the time went, and a
plateau at the top is a function spending the time itself. Each box carries
its share as a tooltip (``<title>``), which a browser shows on hover.

Written here rather than taken from py-spy so that the SVG and the table of
shares printed beside it come from one set of samples.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from html import escape

WIDTH = 1200  # px
ROW = 16  # px per stack level
MIN_BOX = 0.5  # px: narrower boxes are not drawn (their samples stay in the parent)
CHAR_PX = 6.5  # px per character of 11px monospace text, for clipping labels


@dataclass
class Node:
    name: str
    samples: int = 0
    children: dict[str, Node] = field(default_factory=dict)


def folded_stacks(folded: str) -> Iterator[tuple[list[str], int]]:
    """Each stack of folded text (its frames, outermost first) and its samples.

    A line that is not ``frame;frame;... count`` is skipped.
    """
    for line in folded.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            yield stack.split(";"), int(count)


def parse_folded(folded: str) -> Node:
    """The call tree of folded stacks; the root's ``samples`` is the total."""
    root = Node("all")
    for frames, n in folded_stacks(folded):
        root.samples += n
        node = root
        for frame in frames:
            node = node.children.setdefault(frame, Node(frame))
            node.samples += n
    return root


def _colour(name: str) -> str:
    """A warm colour fixed by the function's name, so one function is one colour."""
    h = hashlib.blake2b(name.split(" (")[0].encode(), digest_size=2).digest()
    return f"rgb(230,{90 + h[0] % 140},{40 + h[1] % 50})"


def flame_svg(folded: str, title: str = "") -> str:
    """The SVG text of the flame graph of ``folded`` (root at the bottom)."""
    root = parse_folded(folded)
    if root.samples == 0:
        raise ValueError("no samples in the folded stacks: nothing to draw.")
    depth = _depth(root)
    height = (depth + 1) * ROW + 40
    scale = WIDTH / root.samples
    boxes: list[str] = []

    def draw(node: Node, x: float, level: int) -> None:
        width = node.samples * scale
        if width < MIN_BOX:
            return
        y = height - (level + 1) * ROW - 10
        share = node.samples / root.samples
        label = node.name if level else f"all ({root.samples:,} samples)"
        text = label[: int((width - 4) / CHAR_PX)] if width > 3 * CHAR_PX else ""
        boxes.append(
            f"<g><title>{escape(label)}: {node.samples:,} samples, {share:.1%}</title>"
            f'<rect x="{x:.1f}" y="{y}" width="{width:.1f}" height="{ROW - 1}" '
            f'fill="{_colour(node.name)}"/>'
            + (
                f'<text x="{x + 2:.1f}" y="{y + 11}">{escape(text)}</text>'
                if text
                else ""
            )
            + "</g>"
        )
        child_x = x
        for child in sorted(node.children.values(), key=lambda c: c.name):
            draw(child, child_x, level + 1)
            child_x += child.samples * scale

    draw(root, 0.0, 0)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'font-family="monospace" font-size="11">'
        f'<rect width="100%" height="100%" fill="#fdfaf3"/>'
        f'<text x="4" y="16" font-size="13">{escape(title)}</text>'
        + "".join(boxes)
        + "</svg>\n"
    )


def _depth(node: Node) -> int:
    """Levels above ``node`` (0 for a leaf)."""
    return max((1 + _depth(child) for child in node.children.values()), default=0)
