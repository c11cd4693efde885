"""Generate src/prefkit/examples/reward-pairs.jsonl: synthetic TRL preference rows for the reward demo.

Each row asks a question on one of 40 topics; the chosen answer is polite, on topic and helpful, the rejected
one is dismissive, rude or about something else. 8% of the rows are swapped (annotator noise), so a good
reward model reaches roughly 0.9 accuracy, not 1.0. Deterministic (seeded); run from the repository root:

    python scripts/make_reward_example.py
"""

from __future__ import annotations

import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src" / "prefkit" / "examples" / "reward-pairs.jsonl"
N_PAIRS = 400
NOISE = 0.08
SEED = 20240611

TOPICS = [
    ("boil an egg", "put the egg in boiling water for about nine minutes, then cool it in cold water"),
    (
        "water a cactus",
        "water it deeply every two to three weeks and let the soil dry out completely in between",
    ),
    (
        "learn to juggle",
        "start with one ball, throw it in an arc between your hands, then add a second and a third",
    ),
    ("fix a flat bicycle tyre", "remove the wheel, find the hole, patch the inner tube and pump it back up"),
    ("sleep better", "keep a regular bedtime, avoid screens before bed and keep the bedroom cool and dark"),
    (
        "write a cover letter",
        "open with the role you want, show two achievements that fit it, and end with a clear request",
    ),
    ("save money on groceries", "plan meals for the week, shop with a list and buy staples in bulk"),
    ("start running", "begin with run-walk intervals three times a week and increase the time slowly"),
    (
        "remove a coffee stain",
        "blot it, rinse with cold water from the back and treat it with a little detergent",
    ),
    ("make bread", "mix flour, water, yeast and salt, knead, let it rise twice and bake it hot"),
    ("learn a language", "practise a little every day, speak early and review words with spaced repetition"),
    ("back up a laptop", "copy your files to an external drive and to a cloud service on a schedule"),
    (
        "care for a houseplant",
        "give it the right light, water when the top soil is dry and feed it in spring",
    ),
    (
        "prepare for an interview",
        "research the company, practise common questions aloud and prepare your own questions",
    ),
    (
        "choose a password",
        "use a long passphrase of unrelated words and a password manager for every account",
    ),
    ("clean a cast iron pan", "scrub it with hot water, dry it on the stove and rub in a thin layer of oil"),
    ("reduce stress", "take short breaks, move your body every day and talk to someone you trust"),
    ("plant tomatoes", "plant them deep in a sunny spot, water at the base and stake them as they grow"),
    ("read more books", "carry a book with you, read a few pages at fixed times and drop books you dislike"),
    (
        "tie a tie",
        "cross the wide end over, loop it around, pull it up through the neck and down through the knot",
    ),
    ("make cold brew coffee", "steep coarse grounds in cold water for twelve to eighteen hours, then strain"),
    ("teach a dog to sit", "hold a treat above its nose, move it back until it sits, then reward it at once"),
    ("write a haiku", "write three lines of five, seven and five syllables about one concrete moment"),
    (
        "paint a room",
        "clean and tape the walls, cut in the edges with a brush and roll the paint in even coats",
    ),
    ("stop procrastinating", "break the task into a first five-minute step and start it right away"),
    ("keep bananas fresh", "keep them at room temperature away from other fruit and wrap the stems"),
    ("study for an exam", "test yourself with practice questions and spread the study over several days"),
    ("set up a budget", "list your income and fixed costs, then give every remaining euro a purpose"),
    (
        "cook rice",
        "rinse it, use about one and a half cups of water per cup and simmer covered for fifteen minutes",
    ),
    ("ask for a raise", "collect evidence of your results, pick a good moment and name a specific figure"),
    ("give a good presentation", "know your main message, use few slides and rehearse it out loud"),
    (
        "sharpen a kitchen knife",
        "hold it at a steady angle on a whetstone and draw it across both sides evenly",
    ),
    ("make friends in a new city", "join a club or class that meets regularly and say yes to invitations"),
    ("unclog a sink", "pour boiling water, then use a plunger, and clean the trap under the sink if needed"),
    ("take better photos", "use natural light, follow the rule of thirds and get closer to your subject"),
    ("meditate", "sit comfortably, focus on your breath and gently return to it when your mind wanders"),
    ("store fresh herbs", "trim the stems and keep them in a glass of water, loosely covered, in the fridge"),
    ("write clean code", "use clear names, keep functions small and write tests for what matters"),
    (
        "negotiate a lower rent",
        "compare local prices, offer a longer lease and ask politely for a specific amount",
    ),
    (
        "warm up before exercise",
        "do five minutes of light cardio and a few dynamic stretches for the muscles you use",
    ),
]

ASK = [
    "How do I {t}?",
    "What's the best way to {t}?",
    "Can you explain how to {t}?",
    "I want to {t}. Any advice?",
    "Could you tell me how to {t}, please?",
]
GOOD = [
    "Sure! To {t}, {a}. Let me know if you would like more detail.",
    "Happy to help. The simplest way to {t} is this: {a}.",
    "Good question. {A}. That usually works well for most people.",
    "Here is what I would suggest: {a}. Good luck!",
]
BAD = [
    "Why would you even want to {t}? Figure it out yourself.",
    "I don't know and I don't care. Stop asking me things.",
    "That's a silly question. Just search for it.",
    "Whatever. {other}.",
    "Honestly, {other}. Anyway, I'm not going to help with that.",
    "Ugh, not this again. No.",
]


def main() -> None:
    rng = random.Random(SEED)
    rows = []
    for _ in range(N_PAIRS):
        (t, a), (_, other) = rng.sample(TOPICS, 2)
        prompt = rng.choice(ASK).format(t=t)
        good = rng.choice(GOOD).format(t=t, a=a, A=a[0].upper() + a[1:])
        bad = rng.choice(BAD).format(t=t, other=other[0].upper() + other[1:])
        if rng.random() < NOISE:
            good, bad = bad, good
        rows.append({"prompt": prompt, "chosen": good, "rejected": bad})
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} rows to {OUT}")


if __name__ == "__main__":
    main()
