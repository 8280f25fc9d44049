"""ShopStream's catalogue as text: titles, descriptions, searches, typos (given).

    from labs.algorithms.catalogue import load_catalogue
    cat = load_catalogue("tiny")
    cat.titles[item]            # "navy wool scarf"
    cat.descriptions[item]      # a few sentences and the seller's boilerplate
    cat.relisted_from[item]     # the item whose text it copied (near-duplicates)
    cat.queries                 # {title searched: times}, one search per click
    cat.typos(200, seed=0)      # [(misspelled query, intended query)]

ShopStream's items have a category, a price and a creation time but no text,
so this module writes some, deterministically from the item table and a
seed: a title from the category's nouns with a colour and a material, and a
description of a few templated sentences plus one of a few sellers'
boilerplate paragraphs. A share of items are *re-listings*: a copy of an
earlier item's description with a few words changed, the near-duplicates m5
hunts. The search log counts one search for an item's title per click on it,
so popular items are popular queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, cached_property

import numpy as np

from common.shopstream import dirty_mask, load

NOUNS = [
    ["scarf", "beanie", "glove", "mitten", "shawl", "poncho"],
    ["sneaker", "boot", "sandal", "loafer", "slipper", "clog"],
    ["mug", "teapot", "bowl", "platter", "jug", "tumbler"],
    ["lamp", "lantern", "sconce", "candle", "mirror", "clock"],
    ["backpack", "tote", "wallet", "satchel", "duffel", "pouch"],
    ["hoodie", "sweater", "cardigan", "jacket", "vest", "parka"],
    ["notebook", "planner", "journal", "pencil", "folder", "binder"],
    ["pillow", "blanket", "throw", "quilt", "cushion", "rug"],
    ["kettle", "skillet", "saucepan", "wok", "griddle", "colander"],
    ["headphones", "speaker", "charger", "adapter", "keyboard", "mouse"],
    ["bracelet", "necklace", "ring", "earring", "anklet", "brooch"],
    ["tent", "hammock", "cooler", "compass", "flask", "stove"],
    ["vase", "planter", "basket", "tray", "frame", "bookend"],
    ["shirt", "blouse", "tunic", "polo", "tee", "camisole"],
    ["puzzle", "kite", "yoyo", "marble", "domino", "spinner"],
    ["towel", "robe", "bathmat", "sponge", "soapdish", "caddy"],
    ["leash", "collar", "harness", "feeder", "kennel", "bandana"],
    ["umbrella", "raincoat", "poncho", "galosh", "canopy", "tarp"],
    ["watch", "belt", "tie", "cufflink", "suspender", "visor"],
    ["helmet", "bottle", "glove", "mat", "strap", "band"],
]
COLOURS = [
    "navy",
    "red",
    "olive",
    "ivory",
    "black",
    "grey",
    "teal",
    "amber",
    "plum",
    "rust",
    "sand",
    "coral",
]
MATERIALS = [
    "wool",
    "cotton",
    "linen",
    "leather",
    "canvas",
    "bamboo",
    "ceramic",
    "steel",
    "oak",
    "silk",
]
FINISHES = [
    "matte",
    "glossy",
    "brushed",
    "woven",
    "knitted",
    "quilted",
    "polished",
    "washed",
]
OCCASIONS = ["weekends", "travel", "the office", "gifting", "camping", "long walks"]
OCCASIONS += ["rainy days", "the garden", "parties", "the gym", "reading", "cooking"]
SIZES = ["small", "medium", "large", "one size", "most rooms", "all ages"]
CARE = ["hand wash", "wipe clean", "machine wash cold", "dry flat", "air dry"]
SELLERS = [
    "Free returns within 30 days. Ships from our Leeds warehouse in 2 working days.",
    "Sold and shipped by Northwind Goods. Order before noon for same day dispatch.",
    "Handmade in small batches; colours may vary slightly from the photos shown.",
    "Part of our eco range: recycled packaging and carbon neutral delivery.",
    "Questions? Our support team answers within one working day, seven days a week.",
    "Price match promise: found it cheaper elsewhere? We refund the difference.",
]
RELIST_SHARE = 0.06  # items whose description copies an earlier item's


def _words(rng: np.random.Generator, pool: list[str], n: int) -> str:
    return " ".join(rng.choice(pool, size=n).tolist())


@dataclass
class Catalogue:
    """Text for every item of a ShopStream preset (see the module docstring)."""

    titles: list[str]
    descriptions: list[str]
    relisted_from: dict[int, int]  # item -> the item it copied
    queries: dict[str, int]  # title -> searches (clicks on items with it)

    @cached_property
    def vocabulary(self) -> dict[str, int]:
        """Every word of the searches, with how often it was searched."""
        counts: dict[str, int] = {}
        for query, n in self.queries.items():
            for word in query.split():
                counts[word] = counts.get(word, 0) + n
        return counts

    def typos(self, n: int, seed: int = 0) -> list[tuple[str, str]]:
        """``n`` searches with one typo in one word of 4+ letters:
        ``[(typed, intended)]``, intended drawn by search frequency."""
        rng = np.random.default_rng(seed)
        titles = list(self.queries)
        weights = np.array([self.queries[t] for t in titles], dtype=float)
        picks = rng.choice(len(titles), size=n, p=weights / weights.sum())
        out = []
        for pick in picks.tolist():
            words = titles[pick].split()
            long = [i for i, w in enumerate(words) if len(w) >= 4]
            i = int(rng.choice(long))
            words[i] = _typo(words[i], rng)
            out.append((" ".join(words), titles[pick]))
        return out


def _typo(word: str, rng: np.random.Generator) -> str:
    """One keyboard slip: drop, double, swap two neighbours, or replace a letter."""
    i = int(rng.integers(2, len(word) - 1))  # the first letters are rarely wrong
    kind = int(rng.integers(4))
    if kind == 0:
        return word[:i] + word[i + 1 :]
    if kind == 1:
        return word[:i] + word[i] + word[i:]
    if kind == 2:
        return word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]
    letter = chr(ord("a") + int(rng.integers(26)))
    return word[:i] + letter + word[i + 1 :]


def _describe(rng: np.random.Generator, title: str, category: int) -> str:
    colour, material, noun = title.split()
    sentences = [
        f"A {_words(rng, FINISHES, 1)} {material} {noun} in {colour}.",
        f"Great for {_words(rng, OCCASIONS, 1)} and {_words(rng, OCCASIONS, 1)}.",
        f"Size: {_words(rng, SIZES, 1)}. Care: {_words(rng, CARE, 1)}.",
        f"Style {int(rng.integers(100, 999))}-{category}, "
        f"{_words(rng, FINISHES, 1)} details, {_words(rng, COLOURS, 1)} trim.",
    ]
    return " ".join(sentences) + " " + SELLERS[int(rng.integers(len(SELLERS)))]


def _relist(rng: np.random.Generator, text: str) -> str:
    words = text.split()
    for _ in range(int(rng.integers(1, 4))):  # change 1-3 words
        words[int(rng.integers(len(words)))] = _words(rng, COLOURS + MATERIALS, 1)
    return " ".join(words)


@cache
def load_catalogue(preset: str = "tiny", seed: int = 0) -> Catalogue:
    """The catalogue of ShopStream ``preset`` (generated once per process)."""
    ds = load(preset, seed=seed)
    rng = np.random.default_rng([seed, 13])
    categories = ds.items["category_id"].to_numpy()
    titles, descriptions, relisted = [], [], {}
    for item, category in enumerate(categories.tolist()):
        nouns = NOUNS[category % len(NOUNS)]
        title = f"{_words(rng, COLOURS, 1)} {_words(rng, MATERIALS, 1)} {_words(rng, nouns, 1)}"
        if item > 10 and rng.random() < RELIST_SHARE:
            source = int(rng.integers(item))
            relisted[item] = source
            titles.append(titles[source])
            descriptions.append(_relist(rng, descriptions[source]))
        else:
            titles.append(title)
            descriptions.append(_describe(rng, title, category))
    impressions = ds.impressions[~dirty_mask(ds.impressions)]
    clicked = impressions.loc[impressions["clicked"] == 1, "item_id"].to_numpy()
    queries: dict[str, int] = {}
    for item in clicked.tolist():
        queries[titles[item]] = queries.get(titles[item], 0) + 1
    return Catalogue(titles, descriptions, relisted, queries)
