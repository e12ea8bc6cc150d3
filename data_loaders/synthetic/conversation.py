"""What is said, by whom and when: a procedural two-person conversation script.

The script is an endless stream of `Line`s drawn from a random generator. Speakers take turns of one to
three sentences from a bank written for this project in one of LANGUAGES (English, German, French, Spanish,
Italian, Portuguese, Dutch, Mandarin), optionally opened by a discourse marker ("Well, ..."). Inside a turn
the speaker pauses between sentences (0.35-0.9 s, times the speaker's pause scale); in some of those pauses
the listener answers with a short backchannel in their language ("mm-hmm", "yeah", "ja", "嗯", ...) 0.1-0.3 s
after the pause begins, as often as that listener's backchannel rate says. Between turns the next speaker
either waits (0.15-0.9 s, times the next speaker's pause scale), starts while the other is still talking (an overlap of
0.1-0.5 s), or, rarely, both stay silent for 2-6 s.

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
class Language:
    """A language the synthetic voices speak: the espeak-ng voice name (`espeak-ng --voices`), sentences,
    openers (prefixed to 30 % of the sentences) and backchannels, written for this project."""
    voice: str
    sentences: tuple[str, ...]
    openers: tuple[str, ...]
    backchannels: tuple[str, ...]


ENGLISH = Language("en-us", SENTENCES, OPENERS, BACKCHANNELS)
LANGUAGES = {
    "en": ENGLISH,
    "de": Language("de", (
        "Ich war am Sonntag am Hafen, und alle Boote waren blau gestrichen.",
        "Erinnerst du dich an das kleine Café am alten Bahnhof?",
        "Mein Bruder ist aufs Land gezogen und hat jetzt Ziegen.",
        "Der Zug hatte wieder Verspätung, also bin ich im Regen gelaufen.",
        "Wir könnten uns am Dienstagnachmittag treffen, wenn es dir passt.",
        "Der Garten sieht dieses Jahr wunderbar aus, die Rosen sind riesig.",
        "Ich koche an kalten Abenden gern Suppe mit viel Knoblauch.",
        "Die Besprechung hat Stunden gedauert, und wir haben nichts entschieden.",
        "Meine Großmutter backt den besten Apfelkuchen der Welt.",
        "Am Wochenende soll es endlich wieder sonnig werden.",
        "Wir sind bei Sonnenaufgang auf den Hügel gestiegen.",
        "Unsere Katze schläft immer auf der Tastatur, wenn ich arbeiten will."),
        ("Also, ", "Naja, ", "Weißt du, ", "Ehrlich gesagt, ", "Und ", "Aber "),
        ("mhm", "ja", "genau", "stimmt", "echt", "aha")),
    "fr": Language("fr-fr", (
        "Je suis allé au port dimanche, et tous les bateaux étaient peints en bleu.",
        "Tu te souviens du petit café près de la vieille gare?",
        "Mon frère a déménagé à la campagne et il élève des chèvres.",
        "Le train était encore en retard, alors j'ai marché sous la pluie.",
        "On pourrait se voir mardi après-midi si ça te va.",
        "Le jardin est magnifique cette année, les roses sont énormes.",
        "Je fais souvent de la soupe quand il fait froid le soir.",
        "La réunion a duré des heures et nous n'avons rien décidé.",
        "Ma grand-mère fait la meilleure tarte aux pommes du monde.",
        "La météo annonce du soleil toute la semaine.",
        "Nous avons regardé le coucher du soleil depuis le toit de l'hôtel.",
        "Notre chat dort sur le clavier dès que je veux travailler."),
        ("Bon, ", "Alors, ", "Tu sais, ", "En fait, ", "Et ", "Mais "),
        ("mm", "oui", "d'accord", "ah bon", "voilà", "c'est vrai")),
    "es": Language("es", (
        "El domingo fui al puerto y todos los barcos estaban pintados de azul.",
        "¿Te acuerdas del pequeño café cerca de la estación vieja?",
        "Mi hermano se mudó al campo y ahora tiene cabras.",
        "El tren llegó tarde otra vez, así que caminé bajo la lluvia.",
        "Podríamos vernos el martes por la tarde si te viene bien.",
        "El jardín está precioso este año, las rosas son enormes.",
        "En las noches frías siempre preparo sopa con mucho ajo.",
        "La reunión duró horas y no decidimos absolutamente nada.",
        "Mi abuela hace la mejor tarta de manzana del mundo.",
        "Dicen que va a hacer sol toda la semana.",
        "Subimos la colina al amanecer y la vista era preciosa.",
        "Nuestro gato duerme sobre el teclado cuando intento trabajar."),
        ("Bueno, ", "Pues, ", "Sabes, ", "La verdad, ", "Y ", "Pero "),
        ("ajá", "sí", "claro", "vale", "ya", "qué bien")),
    "it": Language("it", (
        "Domenica sono andato al porto e tutte le barche erano dipinte di blu.",
        "Ti ricordi il piccolo bar vicino alla vecchia stazione?",
        "Mio fratello si è trasferito in campagna e adesso alleva capre.",
        "Il treno era di nuovo in ritardo, così ho camminato sotto la pioggia.",
        "Potremmo vederci martedì pomeriggio, se ti va bene.",
        "Il giardino quest'anno è bellissimo, le rose sono enormi.",
        "Nelle sere fredde cucino sempre una zuppa con tanto aglio.",
        "La riunione è durata ore e non abbiamo deciso niente.",
        "Mia nonna fa la torta di mele più buona del mondo.",
        "Le previsioni dicono che ci sarà sole tutta la settimana."),
        ("Allora, ", "Beh, ", "Sai, ", "In realtà, ", "E ", "Ma "),
        ("mhm", "sì", "certo", "davvero", "esatto", "ah")),
    "pt": Language("pt", (
        "No domingo fui ao porto e todos os barcos estavam pintados de azul.",
        "Lembras-te do pequeno café perto da estação velha?",
        "O meu irmão mudou-se para o campo e agora tem cabras.",
        "O comboio voltou a atrasar, por isso fui a pé à chuva.",
        "Podíamos encontrar-nos na terça à tarde, se der jeito.",
        "O jardim está lindo este ano, as rosas estão enormes.",
        "A minha avó faz a melhor tarte de maçã do mundo.",
        "A reunião durou horas e não decidimos nada."),
        ("Bem, ", "Então, ", "Sabes, ", "E ", "Mas "),
        ("pois", "sim", "claro", "é verdade", "ah")),
    "nl": Language("nl", (
        "Zondag was ik bij de haven en alle boten waren blauw geverfd.",
        "Weet je nog dat kleine café bij het oude station?",
        "Mijn broer is naar het platteland verhuisd en heeft nu geiten.",
        "De trein was weer te laat, dus ben ik in de regen gaan lopen.",
        "We kunnen dinsdagmiddag afspreken als dat jou uitkomt.",
        "De tuin ziet er dit jaar prachtig uit, de rozen zijn enorm.",
        "Mijn oma bakt de lekkerste appeltaart van de wereld.",
        "De vergadering duurde uren en we hebben niets besloten."),
        ("Nou, ", "Dus, ", "Weet je, ", "En ", "Maar "),
        ("hm", "ja", "precies", "klopt", "echt")),
    "zh": Language("cmn", (
        "星期天我去了港口，所有的船都漆成了蓝色。",
        "你还记得老车站旁边那家小咖啡馆吗？",
        "我哥哥搬到了农村，现在养了几只山羊。",
        "火车又晚点了，所以我冒着雨走回家。",
        "如果你方便的话，我们星期二下午见面吧。",
        "今年花园特别漂亮，玫瑰开得很大。",
        "天冷的晚上我总是煮一锅汤。",
        "会开了好几个小时，结果什么也没决定。",
        "我奶奶做的苹果派是世界上最好吃的。",
        "天气预报说这个星期都是晴天。"),
        ("那个，", "其实，", "你知道，", "而且，", "但是，"),
        ("嗯", "对", "是啊", "好的", "真的吗")),
}


def _sentence(language: Language, rng: np.random.Generator) -> str:
    sentence = language.sentences[rng.integers(len(language.sentences))]
    if rng.random() < 0.3:
        opener = language.openers[rng.integers(len(language.openers))]
        sentence = opener + (sentence[0].lower() + sentence[1:] if opener.endswith(" ") else sentence)
    return sentence


LONG_PAUSE = 0.05  # share of turn changes with a long silence


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


def _turn_gap(rng: np.random.Generator, pause_scale: float) -> float:
    """Seconds between the end of one turn and the start of the next: a wait, (25 %) an overlap, or (LONG_PAUSE
    of the turns) a long silence of both."""
    if rng.random() < LONG_PAUSE:
        return float(rng.uniform(2.0, 6.0))
    return float(-rng.uniform(0.1, 0.5) if rng.random() < 0.25 else rng.uniform(0.15, 0.9) * pause_scale)


def conversation(rng: np.random.Generator, languages: tuple[Language, Language] = (ENGLISH, ENGLISH),
                 backchannel_rates: tuple[float, float] = (0.5, 0.5),
                 pause_scales: tuple[float, float] = (1.0, 1.0)) -> Iterator[Line]:
    """An endless conversation script: speaker s talks in languages[s]; backchannel_rates[s] is the chance that
    s, listening, answers a within-turn pause of the other with a backchannel; pause_scales[s] stretches s's
    pauses within turns and s's waits before taking the turn."""
    speaker = int(rng.integers(2))
    gap = float(rng.uniform(0.2, 0.8))  # lead-in silence at the start of the scene
    while True:
        sentences = int(rng.integers(1, 4))
        for k in range(sentences):
            yield Line(speaker, _sentence(languages[speaker], rng), gap)
            if k == sentences - 1:
                break
            gap = float(rng.uniform(0.35, 0.9) * pause_scales[speaker])
            listener = 1 - speaker
            if rng.random() < backchannel_rates[listener]:
                words = languages[listener].backchannels
                yield Line(listener, words[rng.integers(len(words))], float(rng.uniform(0.1, 0.3)), backchannel=True)
        speaker = 1 - speaker
        gap = _turn_gap(rng, pause_scales[speaker])


def schedule(line: Line, duration: float, main_end: float) -> tuple[float, float]:
    """(start of `line` in seconds, the new end of the last main line) given the line's spoken `duration`
    and the end of the previous main line `main_end`."""
    start = max(main_end + line.gap, 0.0)
    return start, (main_end if line.backchannel else start + duration)
