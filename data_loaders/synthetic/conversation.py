"""What is said, by whom and when: a procedural two-person conversation script.

The script is an endless stream of `Line`s drawn from a random generator. Speakers take turns of one to
three sentences from a bank written for this project (optionally opened by a discourse marker: "Well, ...").
Inside a turn the speaker pauses between sentences (0.35-0.9 s); in some of those pauses the listener answers
with a short backchannel ("mm-hmm", "yeah", "right", ...) 0.1-0.3 s after the pause begins. Between turns
the next speaker either waits (0.15-0.9 s) or starts while the other is still talking (an overlap of
0.1-0.5 s).

Timing is relative: a line's `gap` counts from the end of the previous main (non-backchannel) line, so the
schedule is fixed only once the lines have been spoken and their durations are known (`schedule`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

SENTENCES = (
    "I went down to the harbour on Sunday and the boats were all painted blue.",
    "Do you remember the little cafe near the old station?",
    "We should really try that new noodle place around the corner.",
    "My brother moved to a farm, and now he keeps goats and two very loud geese.",
    "The train was late again, so I walked the whole way in the rain.",
    "Honestly, I think the second movie was much better than the first one.",
    "She told me the story about the moon festival, and I could not stop laughing.",
    "I have been reading a book about ancient Rome before I go to sleep.",
    "We could meet on Tuesday afternoon if that works for you.",
    "The garden looks amazing this year, the roses are huge.",
    "Who do you think will win the match on Saturday?",
    "I tried to fix the bike myself, but the chain keeps falling off.",
    "It is funny how quickly the kids grow up.",
    "The museum had an exhibition about whales, with a skeleton as long as a bus.",
    "I usually cook soup on cold evenings, with lots of garlic and beans.",
    "You know, the office feels strangely quiet on Fridays.",
    "Our neighbours adopted a puppy, and it howls every time they leave.",
    "I would love to travel to Norway and see the northern lights.",
    "The meeting went on for hours and we decided absolutely nothing.",
    "Could you send me the photos from the wedding?",
    "We lost power for the whole night, so we played cards by candlelight.",
    "My grandmother makes the best apple pie in the world.",
    "I finally cleaned out the garage and found my old guitar.",
    "The weather forecast says it will be sunny all week.",
    "I am thinking about learning to play the piano.",
    "That restaurant by the river closed down last month.",
    "We hiked up the hill at dawn and the view was beautiful.",
    "It took me three hours to assemble that tiny bookshelf.",
    "Do you want to come along to the concert in June?",
    "The new phone is nice, but the battery dies by noon.",
    "I keep forgetting to water the plants on the balcony.",
    "Our team finally finished the project, two weeks too late.",
    "He always tells the same joke about the blue balloon.",
    "The bakery on the main road sells wonderful bread.",
    "I think we should book the tickets soon, before the prices go up.",
    "My cousin is getting married in a castle in Scotland.",
    "It was so cold that the lake froze over completely.",
    "I saw a documentary about octopuses, and they are smarter than you would think.",
    "We painted the kitchen a pale yellow, and it feels much brighter now.",
    "The children built a huge sand castle at the beach.",
    "I do not understand why the printer never works when I need it.",
    "Let us go for a walk when the rain stops.",
    "The conference was in Lisbon, and the food was incredible.",
    "I started running in the mornings, but only twice a week.",
    "Our cat sleeps on the keyboard whenever I try to work.",
    "The traffic was terrible because of the roadworks on the bridge.",
    "I really enjoyed the cooking class, even though I burned the onions.",
    "My sister is studying to become a doctor.",
    "We found a lovely old map of the city at the market.",
    "The students were excited about the school trip to the zoo.",
    "I cannot believe how expensive coffee has become.",
    "Maybe we could rent a boat and go fishing next summer.",
    "The library has a quiet room upstairs where I like to study.",
    "Everyone was singing along by the end of the evening.",
    "I lost my keys twice this week, which is a new record.",
    "The soup needs a little more salt, I think.",
    "We watched the sunset from the roof of the hotel.",
    "My father still writes letters by hand, with a fountain pen.",
    "The doctor said I should drink more water and sleep more.",
    "It would be wonderful to have a few days off in October.",
    "Their new house has a huge window facing the ocean.",
    "I am not sure the plan will work, but it is worth a try.",
    "The tomatoes from the garden taste so much better than the ones from the shop.",
    "We were stuck at the airport for six hours.",
    "Would you rather live in the mountains or by the sea?",
    "I bought a second hand sofa, and it is surprisingly comfortable.",
    "The old clock in the hall stopped at exactly noon.",
    "Our friends are coming over for dinner on Thursday.",
    "I used to collect stamps when I was a kid.",
    "The river flooded the fields again this spring.",
)

OPENERS = ("Well, ", "So, ", "You know, ", "Actually, ", "I mean, ", "Oh, ", "And ", "But ", "Yes, ", "Hmm, ")
BACKCHANNELS = ("mm-hmm", "yeah", "right", "uh-huh", "okay", "oh really", "I see", "sure", "wow", "yes")


@dataclass(frozen=True)
class Line:
    """One utterance of the script.

    speaker: 0 or 1, who of the pair speaks. gap: seconds from the end of the previous main line to the start
    of this one (negative = overlap). backchannel: a listener's short response; it does not move the end of
    the previous main line (the next main line still counts its gap from the speaker's sentence).
    """
    speaker: int
    text: str
    gap: float
    backchannel: bool = False


def _sentence(rng: np.random.Generator) -> str:
    sentence = SENTENCES[rng.integers(len(SENTENCES))]
    if rng.random() < 0.3:
        sentence = OPENERS[rng.integers(len(OPENERS))] + sentence[0].lower() + sentence[1:]
    return sentence


def _turn_gap(rng: np.random.Generator) -> float:
    """Seconds between the end of one turn and the start of the next: a wait, or (25 %) an overlap."""
    return float(-rng.uniform(0.1, 0.5) if rng.random() < 0.25 else rng.uniform(0.15, 0.9))


def conversation(rng: np.random.Generator, backchannel_rate: float = 0.5) -> Iterator[Line]:
    """An endless conversation script; `backchannel_rate` is the chance of a backchannel in a within-turn
    pause."""
    speaker = int(rng.integers(2))
    gap = float(rng.uniform(0.2, 0.8))  # lead-in silence at the start of the scene
    while True:
        sentences = int(rng.integers(1, 4))
        for k in range(sentences):
            yield Line(speaker, _sentence(rng), gap)
            if k == sentences - 1:
                break
            gap = float(rng.uniform(0.35, 0.9))
            if rng.random() < backchannel_rate:
                yield Line(1 - speaker, BACKCHANNELS[rng.integers(len(BACKCHANNELS))],
                           float(rng.uniform(0.1, 0.3)), backchannel=True)
        gap = _turn_gap(rng)
        speaker = 1 - speaker


def schedule(line: Line, duration: float, main_end: float) -> tuple[float, float]:
    """(start of `line` in seconds, the new end of the last main line) given the line's spoken `duration`
    and the end of the previous main line `main_end`."""
    start = max(main_end + line.gap, 0.0)
    return start, (main_end if line.backchannel else start + duration)
