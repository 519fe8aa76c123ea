"""The phrase bank: what callers say, per intent, as templates expanded with slots and fillers.

Each intent has templates like ``"i {want} to pay my {bill}"``; slots expand to every listed
value, then a seeded sampler adds the things real callers do: a greeting or hesitation up front
("um, yeah"), a politeness tail ("please"), a repeated word. The held-out *phrase* split is by
template, so its wordings never appear in training at all, not just its exact sentences.

    python -m training.phrases --count 3          # print 3 samples per intent
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import itertools
import random
import re
from collections.abc import Iterable, Iterator
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
        "how much is left in my {acct}",
        "what's my available balance",
        "i'm trying to find out my balance",
        "can you read me my balance",
        "what's the current amount in my {acct}",
        "do i have enough money to cover a purchase",
        "how much money is sitting in my {acct}",
        "tell me how much i've got",
        "i just want to know what's in my {acct}",
        "what's my {acct} at right now",
        "give me my balance",
        "account balance",
        "did my paycheck go in",
        "has my deposit cleared",
        "how much can i spend",
        "what's my remaining credit",
        "how much credit do i have left",
        "i need my balance before i go shopping",
        "can you check how much is on my {acct}",
        "is there any money in my {acct}",
        "what's my {acct} looking like",
        "current balance",
        "i'd like to hear my balance",
        "how much is in there",
        "am i in the negative",
        "let me know my balance",
        "what does my {acct} have in it",
        "i wanna check my funds",
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
        "i'd like to pay my {bill} today",
        "i'm ready to pay",
        "can i make a payment now",
        "i want to send in a payment",
        "how can i pay what i owe",
        "i'd like to pay the full amount",
        "let me pay the minimum",
        "i need to pay my {svc} {bill}",
        "can i pay with my {acct}",
        "i want to set up a payment",
        "pay my {bill} with my {acct}",
        "i wanna pay something toward my {bill}",
        "schedule a payment",
        "i'm behind and i want to catch up on my payments",
        "set up autopay",
        "i'd like to pay by bank transfer",
        "how do i pay my {bill}",
        "i need to make a payment on my {acct}",
        "i owe you money and want to pay it",
        "i'm calling to make a payment",
        "pay now",
        "can i pay part of my {bill}",
        "i'd like to clear my {bill}",
        "i want to pay it off",
        "take my payment",
        "i need to get my {bill} paid",
        "submit a payment",
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
        "i don't understand my {bill}",
        "why was i charged this month",
        "i see a charge i didn't make",
        "what's this charge for",
        "my {bill} doesn't look right",
        "you charged me for something i didn't order",
        "i have a billing issue",
        "there's a mistake on my {bill}",
        "i was billed the wrong amount",
        "why is there a late fee",
        "can you go over my charges",
        "i want a refund for a charge",
        "i'm being charged for {svc} i don't have",
        "my {bill} is higher than usual",
        "what am i paying for",
        "i was double billed",
        "i need a breakdown of my {bill}",
        "can i get a credit for that charge",
        "my {svc} {bill} went up again",
        "why am i paying more than last month",
        "i have questions about some charges",
        "the amount on my {bill} is wrong",
        "what's this extra fee",
        "charges",
        "i don't recognize this payment on my {acct}",
        "i want to contest a charge",
        "why did you take money out twice",
        "explain this charge to me",
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
        "my {thing} has no connection",
        "the {thing} is really slow",
        "the internet keeps cutting out",
        "my {thing} won't connect",
        "the lights on my {thing} are blinking",
        "i keep losing my connection",
        "my {thing} is giving me an error",
        "nothing loads",
        "the {thing} isn't responding",
        "my calls keep dropping",
        "the picture on my tv keeps freezing",
        "i can't get online",
        "my {thing} froze",
        "i restarted my {thing} and it still doesn't work",
        "i need to troubleshoot my {thing}",
        "there's a problem with my {thing}",
        "can someone help me fix my connection",
        "my {thing} is {broken} again",
        "is there an outage in my area",
        "the service is down",
        "i have no dial tone",
        "my {thing} keeps rebooting",
        "the {thing} says no signal",
        "technical issue",
        "the app keeps crashing",
        "my {thing} isn't working right",
        "internet problems",
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
        "i want to stop my {svc}",
        "i'd like to cancel my {svc} please",
        "i don't need the {svc} anymore",
        "i'm switching to another company",
        "i want to get out of my contract",
        "please cancel everything",
        "shut off my {svc}",
        "i want to end my {svc}",
        "cancel my {svc} subscription",
        "i'm leaving",
        "close my account please",
        "i no longer want your {svc}",
        "i want to discontinue my {svc}",
        "how much does it cost to cancel",
        "take me off the {svc}",
        "i'd like to drop my {svc}",
        "i'm done with your {svc}",
        "cancel service",
        "discontinue service",
        "i found a cheaper provider so i'm canceling",
        "i want my {svc} turned off",
        "get rid of my {svc}",
        "i need to cancel the {svc} for my mother",
        "remove the {svc} from my account",
        "cancellation",
        "i wish to terminate my contract",
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
        "i want to get {svc}",
        "do you offer {svc} in my area",
        "i'm looking to buy {svc}",
        "how much is {svc}",
        "i'd like to start {svc}",
        "i want to become a customer",
        "i'd like to add {svc}",
        "can i get {svc} installed",
        "what deals do you have on {svc}",
        "i'd like to switch to your company",
        "i want to order {svc}",
        "sign me up for {svc}",
        "i'm thinking of getting {svc} with you",
        "i need to set up {svc} for my business",
        "do you have any new customer offers",
        "i want a new line",
        "i'd like to buy a new phone",
        "get {svc}",
        "sales",
        "i want to start service",
        "i need a new {svc} plan",
        "what packages are available",
        "i'd like more channels",
        "i want faster internet",
        "can i add another line",
        "open an account",
        "i'm a new customer",
        "i want to purchase a plan",
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
        "i have a new {info}",
        "please update my {info}",
        "i changed my {info}",
        "my {info} is wrong on the account",
        "i'd like to update my personal details",
        "i need to fix my {info}",
        "my name is spelled wrong",
        "i'm moving and need to change my address",
        "i need to add my wife to the account",
        "can i change who's on the account",
        "update my details",
        "change account information",
        "i'd like to edit my {info}",
        "my {info} is out of date",
        "put my new {info} on file",
        "i got a new phone number",
        "my email address changed",
        "how do i change my {info}",
        "i need to change my mailing address",
        "update my profile",
        "change my details",
        "i want to add an authorized user",
        "remove my old {info}",
        "my contact information is wrong",
        "account changes",
        "i need to update my records",
        "i want to change my paperless settings",
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
        "i can't remember my password",
        "i forgot my login",
        "my account is locked",
        "i need to reset my password",
        "my password expired",
        "i can't get into my account",
        "i forgot my username",
        "i keep getting an incorrect password message",
        "help me reset my pin",
        "i need a new pin",
        "i'm locked out",
        "the app won't let me log in",
        "i forgot my security questions",
        "send me a password reset link",
        "i never got the reset email",
        "i need to unlock my account",
        "my password doesn't work anymore",
        "change my pin",
        "login problems",
        "locked out",
        "i forgot my pin number",
        "i entered the wrong password too many times",
        "i can't access my online account",
        "how do i reset my password",
        "i don't know my password",
        "forgotten password",
        "my login isn't working",
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
        "where's my {order} at",
        "i'm waiting on a {order}",
        "can you track my {order}",
        "i haven't received my {order}",
        "when is my {order} coming",
        "has my {order} been sent",
        "my {order} says delivered but i don't have it",
        "can you check on an {order} for me",
        "what's happening with my {order}",
        "i want to know when my {order} will get here",
        "my {order} is missing",
        "i ordered something last week and it's not here",
        "is my {order} on its way",
        "give me a tracking number",
        "delivery status",
        "status of my order",
        "when will it be delivered",
        "i was supposed to get my {order} yesterday",
        "my {order} is taking forever",
        "did my {order} go out",
        "check my {order}",
        "expected delivery date",
        "i need an update on my {order}",
        "where is my stuff",
        "what's the eta on my {order}",
        "i placed an order and haven't heard anything",
        "order tracking",
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
        "i've lost my {acct}",
        "my wallet was stolen",
        "i need to report my card lost",
        "someone stole my {acct}",
        "i left my {acct} somewhere",
        "my {acct} is gone",
        "i can't find my wallet",
        "i dropped my card somewhere",
        "my card got stolen",
        "please block my {acct}",
        "i need to freeze my card",
        "lock my card",
        "i need a replacement card",
        "somebody has my card",
        "i think someone is using my card",
        "my {acct} was lost",
        "i misplaced my {acct}",
        "my bag was stolen and my cards were in it",
        "report stolen card",
        "missing card",
        "i lost my wallet",
        "my card was taken",
        "i think i lost my card at the store",
        "my card fell out of my pocket",
        "card lost",
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
        "are you open late {when}",
        "how long are you open {when}",
        "when do you open {when}",
        "when do you close",
        "what are the store hours {when}",
        "are you closed {when}",
        "what are your business hours",
        "until what time are you open",
        "when does the branch open",
        "what time does the shop open {when}",
        "hours of operation",
        "business hours",
        "what are your holiday hours",
        "are you open on sundays",
        "what time can i come in",
        "when can i visit the store",
        "how early do you open",
        "are you still open",
        "what time is the office open until",
        "your hours please",
        "when are you closed",
        "is the location open {when}",
        "what days are you open",
        "opening times",
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
        "put me through to someone",
        "i need to talk to somebody",
        "i want to talk to someone",
        "let me speak to a {agent}",
        "connect me to an {agent}",
        "can i talk to a {agent}",
        "i'd like to speak to someone",
        "put me through to a {agent}",
        "i need to speak with a live {agent}",
        "please transfer me",
        "i want a live person",
        "talk to someone",
        "speak to someone",
        "i'd rather talk to a {agent}",
        "can you put me through to a {agent}",
        "i need help from a {agent}",
        "live agent",
        "i want to speak to a manager",
        "supervisor please",
        "can i get a human",
        "just give me a {agent}",
        "i've been on hold i just want a {agent}",
        "this isn't helping i need a {agent}",
        "speak to a {agent}",
        "let me talk to customer service",
    ),
    "affirm": (
        "yes",
        "yeah",
        "yep",
        "correct",
        "that's right",
        "sure",
        "absolutely",
        "that's correct",
        "uh huh",
        "right",
        "okay",
        "yes it is",
        "definitely",
        "you got it",
        "sounds good",
        "yes that's right",
        "yes correct",
        "yup",
        "of course",
        "exactly",
        "mm hmm",
        "yes sir",
        "yes ma'am",
        "affirmative",
        "go ahead",
        "yes go ahead",
        "please do",
        "that's fine",
        "alright",
        "sure thing",
        "certainly",
        "yes exactly",
        "right yes",
        "yes that's me",
        "that's the one",
        "yes i do",
        "i agree",
        "perfect",
    ),
    "deny": (
        "no",
        "nope",
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
        "no that's wrong",
        "no no",
        "nope that's not it",
        "not at all",
        "that's not correct",
        "absolutely not",
        "no sir",
        "no ma'am",
        "not that",
        "no it isn't",
        "that's not what i said",
        "no i don't",
        "nah that's wrong",
        "no that's incorrect",
        "not right",
        "that's not me",
        "no i didn't",
        "wrong one",
        "don't do that",
        "no don't",
        "i said no",
        "no not that one",
        "neither",
        "not quite",
        "that isn't right",
        "no wrong",
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
        "i didn't hear you",
        "could you say that again",
        "can you repeat the options",
        "what were the options again",
        "sorry what",
        "can you say that again",
        "please repeat",
        "what was that",
        "i missed that",
        "could you repeat the menu",
        "say it again",
        "one more time",
        "huh",
        "excuse me",
        "i didn't understand",
        "can you go over that again",
        "sorry can you repeat",
        "i couldn't hear that",
        "could you repeat that please",
        "what were my choices",
        "read the options again",
        "repeat the menu",
        "sorry what was that",
        "can you say it slower",
        "pardon me",
        "what was the last part",
        "i didn't get that",
        "again please",
        "what did you just say",
        "hear the options again",
        "run that by me again",
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
        "bye now",
        "okay bye",
        "thank you goodbye",
        "that's everything thanks",
        "i'm finished",
        "thanks for your help bye",
        "good night",
        "take care",
        "talk to you later",
        "i'm good thanks bye",
        "that'll be all",
        "nothing more thank you",
        "see ya",
        "cheers bye",
        "that's all for today",
        "we're done",
        "thanks that's all",
        "end call",
        "i have to go",
        "no that's all i needed",
        "i'll call back later",
        "later",
        "thanks so much bye",
        "have a nice day",
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
        "go back to the menu",
        "main options",
        "back",
        "previous",
        "start from the beginning",
        "take me to the main menu",
        "i want to go back",
        "back to the start",
        "restart",
        "go back a step",
        "the first menu",
        "let me go back",
        "i pressed the wrong thing take me back",
        "home",
        "i want to start over",
        "return to menu",
        "back to the beginning please",
        "can i go back to the options",
        "the other menu",
        "top menu",
        "back one",
        "start again",
        "go to the main menu",
        "reset the menu",
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
        "what time does the game start {when}",
        "can you give me directions to the mall",
        "i'm making dinner right now",
        "how tall is the eiffel tower",
        "my phone battery is about to die",
        "do you know any good movies",
        "i just got back from vacation",
        "what's the best way to cook rice",
        "my brother is visiting {when}",
        "can you sing a song",
        "i'm waiting for the bus",
        "how do i get a fishing license",
        "is the highway closed {when}",
        "my coffee is cold",
        "what's two plus two",
        "i'm at the doctor's office",
        "who is the president",
        "tell me a story",
        "i like your voice",
        "where is the nearest gas station",
        "i'm calling about the yard sale",
        "what's the recipe for lasagna",
        "my car won't start",
        "can you call a taxi",
        "are you a robot",
        "i'm watching television",
        "the baby is sleeping",
        "how much does a horse weigh",
        "what's the population of canada",
        "i'm trying to find my glasses",
        "do you like football",
        "my sister got a new job",
        "i need to buy groceries {when}",
        "how far away is the moon",
        "is there a concert {when}",
        "i'm going to the beach {when}",
        "what's on tv tonight",
        "can you translate this into spanish",
        "i want to learn to play guitar",
        "my garden needs watering",
        "who wrote that song",
        "how do you spell necessary",
        "i'm sorry i was talking to my son",
        "wait a second someone's at the door",
        "i'm looking for the dentist",
        "is this the pizza place",
        "i'm trying to reach my doctor",
        "the dog ate my homework",
        "what's the speed of light",
        "how many ounces in a cup",
        "my train is delayed",
        "i'd like to make a dinner reservation",
        "where do you keep the milk",
        "can you find me a hotel",
        "i'm not sure why i called",
        "what planet are we on",
        "it's really hot outside {when}",
        "my shoes are too tight",
        "where did i put my keys",
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
    split: str  # one of TEMPLATE_SPLITS, or training.text_bank.TEXT_BANK_SPLIT


def expand(template: str) -> list[str]:
    """Every sentence a template yields, one per combination of slot values."""
    names = _SLOT.findall(template)
    if not names:
        return [template]
    out = []
    for values in itertools.product(*(SLOTS[name] for name in names)):
        out.append(template.format_map(dict(zip(names, values, strict=True))))
    return out


HELDOUT_FRACTION = 0.2  # templates per intent kept for test_phrase
CALIBRATION_FRACTION = 0.1  # templates per intent kept for calibration (part of dev), never trained on
TEMPLATE_SPLITS = ("train", "calibration_phrase", "heldout_phrase")


def word_spans(sentence: str, *, shortest: int = 1) -> set[tuple[str, ...]]:
    """Every run of at least ``shortest`` consecutive words of ``sentence``."""
    words = sentence.split()
    return {tuple(words[i:j]) for i in range(len(words)) for j in range(i + shortest, len(words) + 1)}


@dataclass(frozen=True, slots=True)
class Wording:
    """A set of sentences as the family rule reads them: whole, and every run of two words or more."""

    whole: frozenset[tuple[str, ...]]
    spans: frozenset[tuple[str, ...]]

    @classmethod
    def of(cls, sentences: Iterable[str]) -> Wording:
        sentences = list(sentences)
        whole = frozenset(tuple(s.split()) for s in sentences)
        return cls(whole, frozenset(span for s in sentences for span in word_spans(s, shortest=2)))

    def overlaps(self, sentence: str) -> bool:
        """``sentence`` is one of these sentences, is said inside one (two words or more), or says one
        of two words or more inside it: the family rule of the phrase split."""
        words = tuple(sentence.split())
        return (
            words in self.whole or words in self.spans or bool(word_spans(sentence, shortest=2) & self.whole)
        )


@functools.cache
def template_families(label: str) -> tuple[tuple[str, ...], ...]:
    """The templates of ``label`` grouped so no sentence (two words or more) of one group is said
    inside a sentence of another: "talk to a {agent}" and "let me talk to a {agent}" are one family.

    The family, not the template, is the unit of the phrase split: a held-out sentence heard whole
    inside a training sentence would be heard wording, not new wording.
    """
    templates = TEMPLATES[label]
    spans = {t: set().union(*(word_spans(s) for s in expand(t))) for t in templates}
    sentences = {t: {tuple(s.split()) for s in expand(t) if len(s.split()) >= 2} for t in templates}
    parent = {t: t for t in templates}

    def root(t: str) -> str:
        while parent[t] != t:
            t = parent[t]
        return t

    for a, b in itertools.permutations(templates, 2):
        if sentences[a] & spans[b]:
            parent[root(a)] = root(b)
    groups: dict[str, list[str]] = {}
    for t in templates:
        groups.setdefault(root(t), []).append(t)
    return tuple(tuple(g) for g in groups.values())


@functools.cache
def _assignment(label: str, seed: int) -> dict[str, str]:
    """Template -> template split: whole families, in seeded-hash order, filled up to each split's share.

    Ranking by hash (rather than thresholding it) gives every intent at least one held-out and one
    calibration family, so both splits cover every intent; a family too large for a share stays in
    training.
    """
    n = len(TEMPLATES[label])
    shares = [
        ("heldout_phrase", max(1, round(HELDOUT_FRACTION * n))),
        ("calibration_phrase", max(1, round(CALIBRATION_FRACTION * n))),
    ]
    families = sorted(
        template_families(label), key=lambda f: hashlib.sha256(f"{seed}:{f[0]}".encode()).digest()
    )
    owner = {}
    for split, share in shares:
        taken = 0
        for family in families:
            if family[0] in owner or taken + len(family) > share:
                continue
            owner.update(dict.fromkeys(family, split))
            taken += len(family)
        if not taken:
            smallest = min((f for f in families if f[0] not in owner), key=len)
            owner.update(dict.fromkeys(smallest, split))
    return {t: owner.get(t, "train") for t in TEMPLATES[label]}


def heldout_templates(label: str, *, seed: int = 0) -> set[str]:
    """The templates of ``label`` kept for the test_phrase split (about HELDOUT_FRACTION of them)."""
    return set(templates_of(label, "heldout_phrase", seed=seed))


def calibration_templates(label: str, *, seed: int = 0) -> set[str]:
    """The templates of ``label`` only dev reads: the out-of-scope threshold and the temperature are
    fitted on wording the model never trained on, as the held-out test splits are scored on.
    """
    return set(templates_of(label, "calibration_phrase", seed=seed))


def templates_of(label: str, split: str, *, seed: int = 0) -> list[str]:
    """The templates of ``label`` in one of TEMPLATE_SPLITS, in bank order."""
    if split not in TEMPLATE_SPLITS:
        raise ValueError(f"unknown template split {split!r}; expected one of {TEMPLATE_SPLITS}")
    owner = _assignment(label, seed)
    return [t for t in TEMPLATES[label] if owner[t] == split]


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
    templates = templates_of(label, split, seed=heldout_seed)
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

    The caller-like half uses training templates only: held-out and calibration wording stays unheard.
    """
    rng = random.Random(f"{seed}:unlabeled")
    labels = [*DEFAULT_INTENTS, OUT_OF_SCOPE]
    pools = {label: templates_of(label, "train", seed=heldout_seed) for label in labels}
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
        for split in TEMPLATE_SPLITS:
            for p in phrases(label, split, args.count, seed=args.seed, heldout_seed=args.seed):
                print(f"{label:18s} {split:15s} {n:8d}  {p.text}")


if __name__ == "__main__":
    main()
