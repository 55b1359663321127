"""Question/passage cases for the reranker tests: nine topics of four
questions each with the passages that answer them, and hits built from
texts."""

from __future__ import annotations

from backend.knowledge.records import DocumentHit

# topic: (questions, passages); item i of one answers item i of the other.
# Items 0-2 train the cross-encoder, item 3 is held out.
TOPICS: dict[str, tuple[list[str], list[str]]] = {
    "cats": (
        [
            "How long do cats sleep each day?",
            "What food should I give my kitten?",
            "Why does my cat purr?",
            "How do I stop my cat scratching the sofa?",
        ],
        [
            "Cats sleep twelve to sixteen hours a day.",
            "Kittens need food rich in protein several times a day.",
            "A cat purrs when it is content or soothing itself.",
            "Give your cat a scratching post so it leaves the sofa alone.",
        ],
    ),
    "tax": (
        [
            "When is the deadline to file my income tax return?",
            "Can I deduct mortgage interest from my taxes?",
            "What is the corporate tax rate?",
            "How is capital gains tax calculated?",
        ],
        [
            "Income tax returns must be filed by the fifteenth of April.",
            "Mortgage interest on a main home is deductible from taxable income.",
            "Corporations pay a flat federal tax rate of 21 percent.",
            "Capital gains tax is charged on the profit when an asset is sold.",
        ],
    ),
    "volcano": (
        [
            "Why do volcanoes erupt?",
            "What is lava made of?",
            "Where are most active volcanoes?",
            "How hot is magma?",
        ],
        [
            "Volcanoes erupt when pressure from gas in the magma chamber builds up.",
            "Lava is molten rock that flows out of a volcano.",
            "Most active volcanoes lie along the Pacific Ring of Fire.",
            "Magma reaches temperatures of 700 to 1300 degrees Celsius.",
        ],
    ),
    "football": (
        [
            "How many players are on a football team?",
            "What is the offside rule?",
            "How long is a football match?",
            "Who won the most World Cups?",
        ],
        [
            "A football team fields eleven players including the goalkeeper.",
            "A player is offside when nearer the goal line than the ball and the "
            "second-last defender.",
            "A football match lasts ninety minutes in two halves.",
            "Brazil has won the World Cup five times, more than any other nation.",
        ],
    ),
    "bread": (
        [
            "How long should bread dough rise?",
            "Why is my bread dense?",
            "What flour is best for baking bread?",
            "At what temperature do I bake bread?",
        ],
        [
            "Let the dough rise until it doubles in size, about one to two hours.",
            "Dense bread usually means the dough did not rise enough or had too little yeast.",
            "Bread flour has more protein and gives a chewier loaf.",
            "Bake most loaves at around 220 degrees Celsius.",
        ],
    ),
    "guitar": (
        [
            "How do I tune a guitar?",
            "How many strings does a guitar have?",
            "What is a guitar capo for?",
            "How often should I change guitar strings?",
        ],
        [
            "Tune each guitar string to E A D G B E using a tuner.",
            "A standard guitar has six strings.",
            "A capo clamps the strings to raise the pitch of the guitar.",
            "Change guitar strings every three months or when they sound dull.",
        ],
    ),
    "chess": (
        [
            "How does the knight move in chess?",
            "What is castling in chess?",
            "How do you win a chess game?",
            "Which chess piece is the most powerful?",
        ],
        [
            "The knight moves in an L shape: two squares one way and one square sideways.",
            "Castling moves the king two squares towards a rook, which jumps over it.",
            "A chess game is won by checkmating the opponent's king.",
            "The queen is the most powerful chess piece, moving any distance in any direction.",
        ],
    ),
    "garden": (
        [
            "When should I plant tomatoes?",
            "How often should I water my lawn?",
            "How do I get rid of aphids on roses?",
            "What soil do blueberries need?",
        ],
        [
            "Plant tomatoes outdoors after the last frost when the soil is warm.",
            "Water the lawn deeply once or twice a week.",
            "Spray roses with soapy water to remove aphids.",
            "Blueberries need acidic soil with a low pH.",
        ],
    ),
    "space": (
        [
            "How far is the Moon from Earth?",
            "What is a black hole?",
            "How many planets are in the solar system?",
            "Why is Mars red?",
        ],
        [
            "The Moon is about 384,000 kilometres from Earth.",
            "A black hole is a region where gravity is so strong that not even light escapes.",
            "The solar system has eight planets orbiting the Sun.",
            "Mars looks red because iron oxide, rust, covers its surface.",
        ],
    ),
}
TRAIN, HELD_OUT = (0, 1, 2), 3


def hits_of(texts: list[str], heading: str = "") -> list[DocumentHit]:
    """Hits in the given order, first-stage scores descending."""
    return [
        DocumentHit(
            chunk_id=i, path=f"doc{i}.md", heading=heading, page=None, score=1.0 - i / 10, text=t
        )
        for i, t in enumerate(texts)
    ]


def held_out_case(topic: str) -> tuple[str, list[DocumentHit]]:
    """A held-out question, its answer placed LAST after four other topics'
    held-out passages."""
    questions, passages = TOPICS[topic]
    others = [TOPICS[t][1][HELD_OUT] for t in TOPICS if t != topic][:4]
    return questions[HELD_OUT], hits_of([*others, passages[HELD_OUT]])
