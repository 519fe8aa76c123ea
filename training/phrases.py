"""The phrase bank: what callers say, per intent, as templates expanded with slots and fillers.

Each intent has templates like ``"i {want} to pay my {bill}"``; slots expand to every listed
value, then a seeded sampler adds the things real callers do: a greeting or hesitation up front
("um, yeah"), a politeness tail ("please"), a repeated word. The held-out *phrase* split is by
template, so its wordings never appear in training at all, not just its exact sentences.

    python -m training.phrases --count 3          # print 3 samples per intent
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass

from ivr.intents import DEFAULT_INTENTS, OUT_OF_SCOPE

# Slot values shared by every intent's templates.
SLOTS: dict[str, tuple[str, ...]] = {
    "want": ("want", "need", "would like", "really need", "have"),
    "can": ("can i", "could i", "can you help me", "is it possible to", "how do i"),
    "acct": ("account", "card", "credit card", "debit card", "checking account", "savings account"),
    "bill": ("bill", "balance", "invoice", "statement", "payment"),
    "svc": ("internet", "phone", "cable", "tv", "mobile", "service", "plan", "subscription"),
    "order": ("order", "package", "delivery", "shipment", "parcel"),
    "info": ("address", "email", "phone number", "name", "billing address", "contact details"),
    "thing": ("modem", "router", "internet", "wifi", "phone", "app", "tv box", "connection"),
    "broken": ("not working", "down", "broken", "acting up", "really slow", "dropping out"),
    "agent": ("agent", "person", "representative", "human", "operator", "real person", "someone"),
    "when": ("today", "this weekend", "on sunday", "tomorrow", "on the holiday", "right now"),
}

# Templates per intent. ``{slot}`` expands to every value in SLOTS.
TEMPLATES: dict[str, tuple[str, ...]] = {
    "check_balance": (
        "what's my balance",
        "check my {acct} balance",
        "i {want} to check my balance",
        "how much money do i have",
        "how much is in my {acct}",
        "balance",
        "balance inquiry",
        "can you tell me my current balance",
        "what do i have left on my {acct}",
        "i'd like to know how much money is in my {acct}",
        "how much do i have available",
        "what's the balance on my {acct}",
        "check balance",
        "am i overdrawn",
    ),
    "make_payment": (
        "i {want} to make a payment",
        "pay my {bill}",
        "i {want} to pay my {bill}",
        "payment",
        "make a payment",
        "{can} pay my {bill} over the phone",
        "i'd like to pay what i owe",
        "i'm calling to pay my {bill}",
        "take a payment please",
        "i {want} to pay off my {acct}",
        "can i pay by card",
        "i wanna settle my {bill}",
        "put a payment on my {acct}",
        "pay the {bill}",
    ),
    "billing_question": (
        "i have a question about my {bill}",
        "why is my {bill} so high",
        "there's a charge i don't recognize",
        "billing question",
        "billing",
        "i was charged twice",
        "what is this fee on my {bill}",
        "i think my {bill} is wrong",
        "can you explain my {bill}",
        "there's an extra charge on my {svc} {bill}",
        "why did my {bill} go up",
        "i got overcharged",
        "question about a charge",
        "dispute a charge on my {bill}",
    ),
    "technical_support": (
        "my {thing} is {broken}",
        "technical support",
        "tech support",
        "i need help with my {thing}",
        "the {thing} keeps {broken}",
        "i'm having trouble with my {thing}",
        "my {thing} stopped working",
        "i can't connect to the internet",
        "i have no signal",
        "something's wrong with my {thing}",
        "i need someone to fix my {thing}",
        "the {thing} won't turn on",
        "i have a technical problem",
        "help my {thing} is {broken}",
    ),
    "cancel_service": (
        "i {want} to cancel my {svc}",
        "cancel my {svc}",
        "cancel",
        "cancel my account",
        "i'd like to close my account",
        "stop my {svc}",
        "i'm thinking about canceling",
        "i don't want the {svc} anymore",
        "how do i cancel",
        "terminate my {svc}",
        "i'm moving and i need to cancel my {svc}",
        "please disconnect my {svc}",
        "end my {svc} contract",
    ),
    "new_service": (
        "i {want} to sign up for {svc}",
        "new service",
        "i'd like to get {svc} at my house",
        "sign up",
        "i {want} to add a line",
        "what plans do you have",
        "i {want} to open a new account",
        "i'm interested in your {svc}",
        "set up new {svc}",
        "i'm moving and i need {svc} at my new place",
        "i {want} to upgrade my {svc}",
        "how do i get {svc}",
        "new customer",
        "add {svc} to my account",
    ),
    "update_account": (
        "i {want} to change my {info}",
        "update my {info}",
        "change my {info}",
        "update account",
        "i moved and need to update my {info}",
        "my {info} has changed",
        "i need to update my account details",
        "change the {info} on my account",
        "can you update my {info}",
        "i got married and changed my name",
        "edit my account information",
        "correct my {info}",
    ),
    "reset_password": (
        "i forgot my password",
        "reset my password",
        "password reset",
        "password",
        "i can't log in",
        "i'm locked out of my account",
        "i {want} to change my password",
        "my password isn't working",
        "i need a new password",
        "forgot my pin",
        "reset my pin",
        "i can't sign in to the app",
        "help me get back into my account",
        "my login doesn't work",
    ),
    "order_status": (
        "where is my {order}",
        "order status",
        "track my {order}",
        "i'm calling about my {order}",
        "has my {order} shipped",
        "when will my {order} arrive",
        "my {order} hasn't arrived",
        "i {want} to check on my {order}",
        "tracking",
        "is my {order} on the way",
        "what's the status of my {order}",
        "i never got my {order}",
        "my {order} is late",
    ),
    "report_lost_card": (
        "i lost my {acct}",
        "my {acct} was stolen",
        "report a lost card",
        "lost card",
        "stolen card",
        "i think my card's gone",
        "i can't find my {acct}",
        "someone took my wallet",
        "i {want} to report a stolen card",
        "block my card",
        "freeze my {acct}",
        "my card is missing",
        "my purse was stolen with my cards",
        "cancel my card it was stolen",
    ),
    "store_hours": (
        "what are your hours",
        "store hours",
        "hours",
        "when are you open",
        "are you open {when}",
        "what time do you close",
        "what time do you open {when}",
        "opening hours",
        "when does the store close {when}",
        "how late are you open",
        "are you open on weekends",
        "what are your opening times",
        "is the store open {when}",
    ),
    "speak_to_agent": (
        "i {want} to speak to an {agent}",
        "{agent}",
        "let me talk to a {agent}",
        "talk to a {agent}",
        "can i speak with a {agent}",
        "get me a {agent}",
        "i {want} a {agent}",
        "transfer me to an {agent}",
        "connect me to a {agent} please",
        "customer service",
        "i don't want to talk to a machine",
        "representative please",
        "put me through to someone",
        "i need to talk to somebody",
    ),
    "affirm": (
        "yes",
        "yeah",
        "yep",
        "correct",
        "that's right",
        "sure",
        "absolutely",
        "yes please",
        "that's correct",
        "uh huh",
        "right",
        "okay",
        "yes it is",
        "definitely",
        "you got it",
        "sounds good",
    ),
    "deny": (
        "no",
        "nope",
        "no thanks",
        "that's wrong",
        "not really",
        "no it's not",
        "that's not right",
        "incorrect",
        "negative",
        "no that's not it",
        "i don't think so",
        "wrong",
        "nah",
        "definitely not",
        "no way",
    ),
    "repeat": (
        "repeat that",
        "can you repeat that",
        "say that again",
        "what did you say",
        "come again",
        "sorry i didn't catch that",
        "pardon",
        "repeat",
        "one more time please",
        "i didn't hear you",
        "could you say that again",
        "can you repeat the options",
        "what were the options again",
        "sorry what",
    ),
    "goodbye": (
        "goodbye",
        "bye",
        "bye bye",
        "that's all",
        "that's all i needed",
        "thanks bye",
        "i'm done",
        "have a good day",
        "see you",
        "that's it thank you",
        "nothing else",
        "i'm all set",
        "hang up",
        "no that's everything bye",
    ),
    "main_menu": (
        "main menu",
        "go back",
        "start over",
        "back to the main menu",
        "menu",
        "go back to the start",
        "take me back",
        "i {want} the main menu",
        "return to the main menu",
        "let me start again",
        "previous menu",
        "go to the beginning",
        "home menu",
    ),
    OUT_OF_SCOPE: (
        "what's the weather like {when}",
        "can you tell me a joke",
        "i'd like to order a pizza",
        "who won the game last night",
        "my dog is barking",
        "hold on my kid is yelling",
        "is this the pharmacy",
        "i think i dialed the wrong number",
        "what's the capital of france",
        "play some music",
        "i'm just driving home right now",
        "how old are you",
        "do you sell car insurance",
        "book me a flight to chicago",
        "what's the score",
        "i'm looking for a good restaurant",
        "tell me about the history of rome",
        "the traffic is terrible {when}",
        "did you see that movie",
        "my neighbor is really loud",
        "how do you make pancakes",
        "is it going to rain {when}",
        "what's your favorite color",
        "i need a plumber",
        "where can i park my car",
        "i'm allergic to peanuts",
        "can you recommend a good book",
        "the cat knocked over the lamp",
        "what time is it in tokyo",
        "i want to adopt a puppy",
    ),
}

PREFIXES = (
    "", "", "", "", "um", "uh", "yeah", "hi", "hello", "hi there", "um yeah", "so", "okay so",
    "well", "yes hello", "hi um", "uh hi", "oh", "hey", "good morning",
)  # fmt: skip
SUFFIXES = (
    "",
    "",
    "",
    "",
    "please",
    "thanks",
    "thank you",
    "if you can",
    "right now",
    "please thanks",
)

# Indirect lead-ins for first-person requests ("my card is gone" -> "i'm calling because my card is gone").
WRAPPERS = (
    "i'm calling because {}",
    "yeah so basically {}",
    "i think {}",
    "the thing is {}",
    "okay so {}",
)
_WRAPPABLE = ("i ", "i'm ", "my ", "there's ", "someone ", "the ")

# Generic sentences for the unlabeled pre-training bank: speech-like text with broad phonetic coverage.
_SUBJECTS = (
    "i",
    "we",
    "my wife",
    "my husband",
    "the kids",
    "my manager",
    "the driver",
    "she",
    "he",
)
_VERBS = (
    "called",
    "visited",
    "forgot",
    "cleaned",
    "ordered",
    "fixed",
    "watched",
    "painted",
    "found",
)
_OBJECTS = (
    "the kitchen", "a new phone", "the garden", "three tickets", "the broken window",
    "the old computer", "a birthday cake", "the blue car", "some groceries", "the hotel",
)  # fmt: skip
_TAILS = ("yesterday", "last week", "this morning", "after lunch", "on friday", "again", "", "")

_SLOT = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True, slots=True)
class Phrase:
    """One sentence a caller might say, with where it came from."""

    text: str
    label: str  # an intent name or OUT_OF_SCOPE
    template: str  # the template it expanded from: the unit of the phrase-level split
    split: str  # "train" or "heldout_phrase"


def expand(template: str) -> list[str]:
    """Every sentence a template yields, one per combination of slot values."""
    names = _SLOT.findall(template)
    if not names:
        return [template]
    out = []
    for values in itertools.product(*(SLOTS[name] for name in names)):
        out.append(template.format_map(dict(zip(names, values, strict=True))))
    return out


def heldout_templates(label: str, *, heldout_fraction: float = 0.2, seed: int = 0) -> set[str]:
    """The templates of ``label`` kept out of training: a fixed fraction, chosen by a seeded hash.

    Ranking by hash (rather than thresholding it) gives every intent at least one held-out
    template, so the phrase split measures every intent.
    """
    templates = TEMPLATES[label]
    k = max(1, round(heldout_fraction * len(templates)))
    ranked = sorted(templates, key=lambda t: hashlib.sha256(f"{seed}:{t}".encode()).digest())
    return set(ranked[:k])


def decorate(core: str, rng: random.Random) -> str:
    """Add what real callers add: a lead-in, a hesitation, a tail, sometimes a repeated word."""
    if core.startswith(_WRAPPABLE) and rng.random() < 0.25:
        core = rng.choice(WRAPPERS).format(core)
    words = core.split()
    if len(words) > 2 and rng.random() < 0.1:  # a stutter: "i i want to"
        i = rng.randrange(len(words) - 1)
        words.insert(i, words[i])
    text = " ".join([rng.choice(PREFIXES), *words, rng.choice(SUFFIXES)])
    return " ".join(text.split())


def phrases(label: str, split: str, count: int, *, seed: int = 0, heldout_seed: int = 0) -> list[Phrase]:
    """``count`` sampled phrasings of ``label`` from the templates of ``split``; deterministic.

    ``seed`` draws the sample, ``heldout_seed`` the held-out templates: every split of one corpus must
    share the latter, or a "held-out" split is drawn from templates another split trained on.
    """
    held = heldout_templates(label, seed=heldout_seed)
    templates = [t for t in TEMPLATES[label] if (t in held) == (split == "heldout_phrase")]
    rng = random.Random(f"{seed}:{label}:{split}")
    pool = [(t, s) for t in templates for s in expand(t)]
    return [
        Phrase(decorate(core, rng), label, template, split)
        for template, core in (rng.choice(pool) for _ in range(count))
    ]


def distinct_phrasings(label: str) -> int:
    """How many distinct sentences the bank can produce for ``label`` (before stutters)."""
    cores = [s for t in TEMPLATES[label] for s in expand(t)]
    wrapped = sum(1 + len(WRAPPERS) * c.startswith(_WRAPPABLE) for c in cores)
    return wrapped * len(set(PREFIXES)) * len(set(SUFFIXES))


def unlabeled_sentences(count: int, *, seed: int = 0, heldout_seed: int = 0) -> Iterator[str]:
    """Sentences for stage-1 pre-training: generic speech plus caller-like requests of every kind.

    The caller-like half never uses a held-out template: the phrase split stays unheard, even unlabeled.
    """
    rng = random.Random(f"{seed}:unlabeled")
    labels = [*DEFAULT_INTENTS, OUT_OF_SCOPE]
    pools = {
        label: [t for t in TEMPLATES[label] if t not in heldout_templates(label, seed=heldout_seed)]
        for label in labels
    }
    for _ in range(count):
        if rng.random() < 0.5:
            parts = [rng.choice(x) for x in (_SUBJECTS, _VERBS, _OBJECTS, _TAILS)]
            yield " ".join(" ".join(parts).split())
        else:
            label = rng.choice(labels)
            yield decorate(rng.choice(expand(rng.choice(pools[label]))), rng)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for label in [*DEFAULT_INTENTS, OUT_OF_SCOPE]:
        n = distinct_phrasings(label)
        for split in ("train", "heldout_phrase"):
            for p in phrases(label, split, args.count, seed=args.seed, heldout_seed=args.seed):
                print(f"{label:18s} {split:15s} {n:8d}  {p.text}")


if __name__ == "__main__":
    main()
