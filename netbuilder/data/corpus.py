"""The generator of the bundled character-level corpus (``resources/data/tales.txt``).

The bundled ``text`` sample is a deterministic, synthetic English corpus: short village tales assembled from
hand-written sentence templates and word lists. It is original text (no licence questions, nothing downloaded),
it reads like English, and it has the structure a small character model can visibly learn: words, capitals after
full stops, quoted dialogue, titles and paragraphs. The shipped file is exactly ``generate_corpus()``; a test
checks that, so the file's provenance is this module. The random numbers come from a self-contained splitmix64
generator rather than ``random``, so the output does not depend on the Python version.
"""

from __future__ import annotations

from collections.abc import Sequence

CORPUS_SEED = 1609
CORPUS_CHARS = 160_000
_MASK = (1 << 64) - 1


class _Rng:
    """splitmix64: tiny, fast, and identical on every platform and Python version."""

    def __init__(self, seed: int):
        self.state = seed & _MASK

    def next(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & _MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        return z ^ (z >> 31)

    def below(self, n: int) -> int:
        return self.next() % n

    def choice(self, items: Sequence[str]) -> str:
        return items[self.below(len(items))]

    def chance(self, percent: int) -> bool:
        return self.below(100) < percent


_PEOPLE = (
    ("Ada", "she"), ("Tom", "he"), ("Mira", "she"), ("Owen", "he"), ("Elsie", "she"), ("Jonah", "he"),
    ("Rosa", "she"), ("Peter", "he"), ("Hazel", "she"), ("Silas", "he"), ("Nell", "she"), ("Arthur", "he"),
    ("Maud", "she"), ("Felix", "he"), ("Ivy", "she"), ("Walter", "he"), ("Clara", "she"), ("Bram", "he"),
    ("Agnes", "she"), ("Hugo", "he"), ("Lotte", "she"), ("Simon", "he"), ("Greta", "she"), ("Edwin", "he"),
)
_TRADES = (
    "baker", "miller", "weaver", "smith", "shepherd", "fisher", "potter", "carpenter", "gardener", "clerk",
    "ferryman", "beekeeper", "tailor", "cooper", "lamplighter", "schoolteacher", "innkeeper", "bookbinder",
)
_PLACES = (
    "harbour", "market", "mill", "orchard", "bridge", "chapel", "forge", "meadow", "library", "well",
    "lighthouse", "bakery", "old barn", "river bank", "town square", "churchyard", "hill path", "quay",
)
_TOWNS = ("Ashford", "Brackwater", "Coldharbour", "Dunmere", "Elmstead", "Fallowby", "Greystone", "Hollins")
_THINGS = (
    "lantern", "key", "letter", "basket", "coat", "kettle", "map", "ribbon", "knife", "fiddle", "clock",
    "ledger", "shawl", "bucket", "compass", "umbrella", "loaf", "candle", "spoon", "ring", "book", "hat",
)
_ANIMALS = {
    "dog": "bark", "cat": "hiss", "goose": "honk", "donkey": "bray", "crow": "caw", "goat": "bleat",
    "horse": "neigh", "hen": "cluck", "fox": "yelp", "owl": "hoot", "mule": "bray", "heron": "croak",
}
_ADJS = (
    "old", "small", "heavy", "bright", "worn", "new", "tiny", "crooked", "painted", "dusty", "silver", "wooden",
    "broken", "curious", "faded", "polished", "borrowed", "green", "red", "plain",
)
_MOODS = ("glad", "tired", "worried", "cheerful", "puzzled", "restless", "calm", "cross", "hopeful", "shy")
_TIMES = (
    "In the morning", "At dawn", "Before noon", "Late in the afternoon", "At dusk", "After supper",
    "On the first day of spring", "When the bells rang six", "One grey Tuesday", "Early the next day",
    "Just before the rain", "On market day", "That evening", "Long after midnight",
)
_WEATHER = (
    "The wind came in from the sea", "A thin rain was falling", "The sun was warm on the stones",
    "Fog lay low over the fields", "Snow had settled on the roofs", "The sky was clear and pale",
    "Clouds drifted slowly over the hills", "The air smelled of bread and smoke", "Frost glittered on the grass",
    "A storm was gathering in the west",
)
_SAYINGS = (
    "A slow horse still reaches the mill.", "What the river takes, the river returns.",
    "Mend the roof while the sun shines.", "A kind word costs less than a candle.",
    "Every road is short with a good friend.", "The well is only missed when it runs dry.",
    "Count the geese after the fox has gone.", "Small hands can carry large news.",
)
_GREETINGS = ("Good morning", "Hello", "Good evening", "Well met", "Ah, there you are", "Hello again")
_VERBS_GO = ("walked", "hurried", "wandered", "ran", "strolled", "climbed", "rode", "marched")
_VERBS_FIND = ("found", "noticed", "spotted", "picked up", "discovered", "caught sight of")
_THOUGHTS = (
    "the long winter", "the price of flour", "an old promise", "the letter from the city", "the broken gate",
    "the festival", "the stranger at the inn", "the missing sheep", "the new bridge", "the empty house",
)
_ENDINGS = (
    "And from that day on, nobody in {town} ever lost a {thing} again.",
    "The {animal} slept by the fire, and the whole house was quiet.",
    "{Name} smiled, put the {thing} on the shelf, and went to bed.",
    "By the time the bells rang, the whole of {town} had heard the story.",
    "It was, everyone agreed, the strangest {season} anyone could remember.",
    "And if you ask at the {place} today, they will tell you the same.",
)
_SEASONS = ("spring", "summer", "autumn", "winter")


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


class _Tale:
    """One short story: a hero, a friend, a town, an object and an animal, kept consistent throughout."""

    def __init__(self, rng: _Rng):
        self.rng = rng
        self.hero, self.pron = _PEOPLE[rng.below(len(_PEOPLE))]
        friends = [p for p in _PEOPLE if p[0] != self.hero]
        self.friend, self.fpron = friends[rng.below(len(friends))]
        self.trade = rng.choice(_TRADES)
        self.town = rng.choice(_TOWNS)
        self.thing = rng.choice(_THINGS)
        self.adj = rng.choice(_ADJS)
        self.animal = rng.choice(tuple(_ANIMALS))
        self.place = rng.choice(_PLACES)
        self.season = rng.choice(_SEASONS)

    @property
    def poss(self) -> str:
        return "her" if self.pron == "she" else "his"

    @property
    def obj(self) -> str:
        return "her" if self.pron == "she" else "him"

    def fill(self, template: str, **extra: str) -> str:
        r = self.rng
        words = {
            "name": self.hero, "Name": self.hero, "friend": self.friend, "pron": self.pron, "Pron": _cap(self.pron),
            "poss": self.poss, "obj": self.obj, "Poss": _cap(self.poss), "trade": self.trade, "town": self.town,
            "thing": self.thing, "adj": self.adj, "animal": self.animal, "sound": _ANIMALS[self.animal], "place": self.place,
            "other_place": r.choice(_PLACES), "other_thing": r.choice(_THINGS), "mood": r.choice(_MOODS),
            "time": r.choice(_TIMES), "weather": r.choice(_WEATHER), "go": r.choice(_VERBS_GO),
            "find": r.choice(_VERBS_FIND), "thought": r.choice(_THOUGHTS), "saying": r.choice(_SAYINGS),
            "greeting": r.choice(_GREETINGS), "season": self.season, "fpron": self.fpron, "Friend": self.friend,
            "number": r.choice(("two", "three", "four", "five", "seven", "ten", "twelve")),
            **extra,
        }
        return template.format(**words)

    def title(self) -> str:
        forms = ("The {Adj} {Thing}", "{Name} and the {Animal}", "A {Season} in {town}", "The {Trade} of {town}",
                 "{Name} the {Trade}", "What the {Animal} Saw")
        form = self.rng.choice(forms)
        return form.format(Adj=_cap(self.adj), Thing=_cap(self.thing), Name=self.hero, Animal=_cap(self.animal),
                           Season=_cap(self.season), town=self.town, Trade=_cap(self.trade))

    def opening(self) -> str:
        return self.fill(self.rng.choice((
            "In the town of {town} there lived a {trade} called {name}.",
            "{Name} was the {trade} of {town}, and {pron} had been for many years.",
            "Everyone in {town} knew {name}, the {trade} who lived near the {place}.",
            "Not far from the {place} in {town} lived a {mood} {trade} named {name}.",
        ))) + " " + self.fill(self.rng.choice((
            "{Pron} owned a {adj} {thing} and a {animal} that followed {obj} everywhere.",
            "{Pron} kept a {animal}, a garden of beans, and a {adj} {thing} on the windowsill.",
            "{Poss} only treasure was a {adj} {thing} that had belonged to {poss} grandmother.",
        )))

    def narrative(self) -> str:
        return self.fill(self.rng.choice((
            "{time}, {name} {go} down to the {other_place}.",
            "{weather}, but {name} {go} to the {other_place} all the same.",
            "{weather}. {Name} stood at the door and watched the road for a while.",
            "{time}, the {animal} began to {sound} at something near the {other_place}.",
            "{Name} {find} a {other_thing} lying in the mud by the {other_place}.",
            "For a long time {pron} thought about {thought}, but {pron} said nothing.",
            "The {animal} kept close, stopping now and then as if it were listening.",
            "{Pron} counted {number} footprints in the snow, and none of them were {poss} own.",
            "At the {other_place}, {friend} was waiting with a {other_thing} in each hand.",
            "{Name} felt {mood}, though {pron} could not have said why.",
            "{Friend} had heard a rumour about {thought}, and {fpron} wanted to know more.",
            "Nobody in {town} could remember a {season} quite like this one.",
            "The {adj} {thing} was gone from its place, and the shelf looked bare without it.",
            "{Pron} searched the {other_place}, the cellar and the garden, but found nothing.",
            "{weather}, and the lamps in {town} were lit one by one.",
            "By noon the news had reached the {other_place}, and people began to talk.",
        )))

    def dialogue(self) -> str:
        speaker, listener = (self.hero, self.friend) if self.rng.chance(50) else (self.friend, self.hero)
        line = self.fill(self.rng.choice((
            "{greeting}, {listener}. Have you seen my {thing}?",
            "I think the {animal} knows more than it lets on.",
            "We should look near the {other_place} before it gets dark.",
            "My grandmother used to say: {saying}",
            "Is it true what they say about {thought}?",
            "If you find it, bring it back to the {place}.",
            "I have walked {number} miles today, and my feet are sore.",
            "Do not worry. Things have a way of turning up.",
            "Who would want a {adj} {thing}, of all things?",
        )), listener=listener)
        if line.endswith("?"):
            verb = self.rng.choice(("asked", "whispered", "wondered"))
        else:
            verb = self.rng.choice(("said", "whispered", "replied", "called", "laughed"))
        if self.rng.chance(50):
            if line.endswith("."):
                line = line[:-1] + ","
            return f'"{line}" {verb} {speaker}.'
        return f'{speaker} {verb}, "{line}"'

    def ending(self) -> str:
        return self.fill(self.rng.choice(_ENDINGS))

    def paragraph(self, sentences: int) -> str:
        parts = []
        for _ in range(sentences):
            parts.append(self.dialogue() if self.rng.chance(30) else self.narrative())
        return " ".join(parts)

    def text(self) -> str:
        paragraphs = [self.title(), self.opening()]
        for _ in range(2 + self.rng.below(4)):
            paragraphs.append(self.paragraph(2 + self.rng.below(4)))
        paragraphs.append(self.ending())
        return "\n\n".join(_fix_articles(p) for p in paragraphs)


def _fix_articles(text: str) -> str:
    """'a old lantern' -> 'an old lantern': keep the generated English tidy."""
    for word in ("old", "umbrella", "owl", "empty", "apple", "orchard", "inn", "autumn"):
        text = text.replace(f" a {word}", f" an {word}").replace(f"A {word}", f"An {word}")
    return text


def generate_corpus(seed: int = CORPUS_SEED, chars: int = CORPUS_CHARS) -> str:
    """Whole tales until at least ``chars`` characters; the same text for the same arguments, everywhere."""
    rng = _Rng(seed)
    tales: list[str] = []
    total = 0
    while total < chars:
        tale = _Tale(rng).text()
        tales.append(tale)
        total += len(tale) + 3
    return "\n\n\n".join(tales) + "\n"
