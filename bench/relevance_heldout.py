"""A held-out relevance set: new questions, never used to choose a setting.

Written for issue 16's second pass before any tuning, so that what is chosen on
`relevance_set.QUESTIONS` can be checked on questions it was not chosen on. `EXTRA_CORPUS`
adds 32 insights from other fields of practice (beekeeping, building sites, pharmacy,
hotels, legal clinics, running clubs, warehouses, ...); `HELDOUT_QUESTIONS` asks after
80 of the original insights and every new one in other words than the insights' and the
first set's questions. Rule: nothing in search is tuned on these; a figure measured on
them is reported beside the first set's, never instead of it.
"""

from __future__ import annotations

EXTRA_CORPUS = [  # (key, text)
    (
        "bee-inspection",
        "Inspect each hive every seven to nine days in spring; a missed week is when colonies swarm",
    ),
    (
        "fence-walk",
        "Walk the fences after every storm; most lost sheep got out through a gap nobody checked",
    ),
    (
        "toolbox-talk",
        "A five-minute toolbox talk at seven covers the day's hazards before anyone climbs the scaffold",
    ),
    (
        "preflight-checklist",
        "Read the written checklist aloud even on the hundredth flight; experience is when steps get skipped",
    ),
    (
        "lasa-drugs",
        "Store look-alike, sound-alike medicines on separate shelves with tall-man lettering on the labels",
    ),
    (
        "greet-customers",
        "Greet every shopper within ten seconds of walking in; shoplifting fell and sales rose",
    ),
    (
        "maintenance-sheet",
        "Housekeeping notes broken fittings on a sheet maintenance reads every morning; complaints about rooms halved",
    ),
    (
        "case-summary",
        "Keep a one-page summary of each client's case in plain words so any volunteer lawyer can pick it up",
    ),
    (
        "lone-working",
        "Home visits after dark happen in pairs, or a colleague holds the address and the expected return time",
    ),
    (
        "glossary",
        "A shared glossary of agreed terms per client ended the translators' arguments over the same words",
    ),
    (
        "card-backup",
        "Copy memory cards to two drives before formatting them; every lost wedding shoot began with a reused card",
    ),
    (
        "easy-pace",
        "Run the easy runs slowly enough to chat; most of our injuries came from racing every session",
    ),
    (
        "group-ride-signals",
        "Ride leaders call out and point at potholes; riders at the back of the group cannot see the road",
    ),
    (
        "props-table",
        "Each prop has its outline taped on the backstage table, so a missing item shows at a glance before curtain up",
    ),
    (
        "welcome-greeter",
        "A named greeter meets newcomers at the door and takes them to coffee afterwards",
    ),
    (
        "dependency-updates",
        "Pin dependency versions and bump them weekly in one small batch rather than once a year",
    ),
    (
        "structured-logging",
        "Log structured events carrying a request id, so one customer's problem can be traced across services",
    ),
    (
        "secrets-rotation",
        "Rotate credentials on a schedule and never paste tokens in chat; a leaked key in a channel cost us a weekend",
    ),
    (
        "baseline-model",
        "Score a simple baseline first; it tells you whether the clever model is worth its complexity",
    ),
    (
        "safe-pickup",
        "Children are released only to adults named on the form; anyone new gives the family's password",
    ),
    (
        "life-story",
        "A photo and a short life story on each resident's door help staff start real conversations",
    ),
    (
        "order-readback",
        "Read each order back to the table before it goes to the kitchen; dishes sent back fell by half",
    ),
    (
        "pick-route",
        "Sort pick lists by shelf location so pickers walk each aisle once per order batch",
    ),
    (
        "helpline-debrief",
        "Helpline volunteers get a short debrief with a supervisor after every distressing conversation",
    ),
    (
        "referee-explain",
        "Referees explain a decision to the captain in one calm sentence and never argue with spectators",
    ),
    (
        "teacher-talk-time",
        "In language classes the teacher should speak for a third of the lesson at most; learners need the practice",
    ),
    (
        "route-plan",
        "Leave a written route and a latest return time with someone at home before any solo hike",
    ),
    (
        "repair-log",
        "Tenants log every repair request with dated photos in one shared sheet before meeting the landlord",
    ),
    (
        "room-tone",
        "Record thirty seconds of room tone at every interview; cleaning up hiss in the edit needs it",
    ),
    (
        "weigh-animals",
        "Weigh every animal at each visit and write it down; our worst dosing errors came from guessed weights",
    ),
    (
        "exam-papers",
        "Invigilators count scripts in and out, so a missing paper is found before the candidates leave",
    ),
    (
        "core-hours",
        "Agree four core hours of overlap across time zones; outside them nobody expects a reply",
    ),
]

HELDOUT_QUESTIONS = [  # (question as asked, keys of the insights it is after)
    # the original insights, asked again in other words
    ("how big should a code change be so someone looks at it quickly", ["small-prs"]),
    ("a list of things every reviewer should go over", ["review-checklist"]),
    ("my remarks on other people's work come across as harsh", ["review-tone"]),
    (
        "what does a new engineer need in their first week",
        ["buddy", "onboarding-doc", "first-commit"],
    ),
    ("pair each recruit with a friendly colleague", ["buddy"]),
    ("nothing changes after our team reflection meetings", ["retro-actions"]),
    ("after something broke people are scared to admit their part", ["postmortem-blameless"]),
    ("everybody piles in when production is down and it's chaos", ["incident-commander"]),
    ("instructions for whoever gets woken by an alarm", ["runbooks"]),
    ("our build randomly goes red and people just rerun it", ["flaky-tests"]),
    ("refactoring ancient software without a safety net", ["tdd-legacy"]),
    ("nobody remembers why the system was built this way", ["adr"]),
    ("what should I settle with my mentor at the start", ["mentoring-goals"]),
    ("coding in pairs over video calls", ["pairing-remote"]),
    ("too many meetings, no time for deep work", ["no-meeting-day"]),
    ("swap the morning status call for written updates", ["standup-async"]),
    ("switch new functionality on for users separately from deploying it", ["feature-flags"]),
    ("when do we get time to fix old shortcuts in the software", ["tech-debt-budget"]),
    ("checking our app works for people who cannot see", ["accessibility"]),
    ("meetings always overrun", ["timebox-agenda"]),
    ("handling off-topic points without losing them", ["parking-lot"]),
    ("people dispute what was decided weeks later", ["decision-log"]),
    ("getting ideas out of introverts in workshops", ["silent-brainstorm"]),
    ("why do people resign from our organisation", ["exit-interviews"]),
    ("what should my regular chat with my line manager cover", ["one-on-ones"]),
    ("how to show appreciation to our helpers", ["praise-public"]),
    ("interviews full of puzzles don't tell us who can do the work", ["hiring-work-sample"]),
    ("a teammate works every weekend and never takes leave", ["burnout-signals"]),
    ("helping kids remember what we covered a week ago", ["retrieval-practice"]),
    ("pupils get no time to think before I pick someone", ["wait-time"]),
    ("giving feedback on written assignments faster", ["marking-codes"]),
    ("a quick check at the end of class to see who followed", ["exit-tickets"]),
    ("a structure for passing on patient information between shifts", ["handover-sbar"]),
    ("preventing insulin mistakes on the ward", ["med-double-check"]),
    ("elderly patients falling out of bed overnight", ["falls-prevention"]),
    ("how should nurses rest when they rotate to nights", ["night-shift-sleep"]),
    ("natural ways to keep pests off vegetables", ["companion-planting"]),
    ("keeping garden beds from drying out and getting weedy", ["mulch"]),
    ("what to put in a compost bin so it breaks down", ["compost-ratio"]),
    ("my plants keep getting powdery mould", ["watering-morning"]),
    ("why are blunt tools risky in the workshop", ["sharp-chisels"]),
    ("protecting my lungs when sanding", ["dust-extraction"]),
    ("why did my wooden table split", ["wood-movement"]),
    ("the kitchen falls apart when orders pile up", ["mise-en-place"]),
    ("how do we mark food boxes so nobody eats something they react to", ["allergen-labels"]),
    ("records the food safety officer wants to see", ["fridge-temps"]),
    ("keeping supporters giving year after year", ["donor-thanks"]),
    ("nobody opens our monthly email", ["newsletter-short"]),
    ("first-time helpers stand around and never return", ["volunteer-first-task"]),
    ("resolving a quarrel between two members of the club", ["conflict-mediation"]),
    ("how many testers do I need to find the worst problems in our app", ["usability-five"]),
    ("customers say what they'd do but then do something else", ["interview-questions"]),
    ("cheap sketches to try an idea on people", ["prototype-paper"]),
    ("stop us changing the statistics after we see the results", ["preregistration"]),
    ("where should we keep copies of our measurements", ["data-backup"]),
    ("how many people must confirm a rumour before we print it", ["second-source"]),
    ("readers stop halfway through my reports", ["inverted-pyramid"]),
    ("calming my nerves before I perform", ["stage-fright"]),
    ("protecting singers' throats", ["warmup-voice"]),
    ("getting children more involved in training games", ["small-sided-games"]),
    ("knee problems in our youth team", ["injury-warmup"]),
    ("how quickly should the help desk get back to people", ["first-response"]),
    ("writing help articles for questions that keep coming up", ["knowledge-base"]),
    ("understanding why people stop paying for our service", ["churn-calls"]),
    ("we juggle too many jobs at once", ["wip-limits"]),
    ("giving the boss an honest idea of when it will be ready", ["estimates-ranges"]),
    ("extra demands arriving in the middle of a project", ["scope-creep"]),
    ("testing how we get everyone out of the building", ["fire-drill"]),
    ("people getting hurt climbing up to reach things", ["ladder-safety"]),
    ("removing old books from the library", ["weeding"]),
    ("the treasurer's bookkeeping takes forever at the end of the year", ["receipts-monthly"]),
    ("who has to approve large payments", ["two-signatures"]),
    ("how can someone complain about behaviour in our open source project", ["code-of-conduct"]),
    ("warning users before we remove an old function", ["semver"]),
    ("where should people send us vulnerability reports", ["security-disclosure"]),
    ("our changelog makes no sense to users", ["release-notes"]),
    ("helping newcomers make their first contribution", ["good-first-issue"]),
    ("when is it fine to turn down a meeting request", ["agenda"]),
    ("our choir's basses always lag behind on new music", ["choir-sectionals"]),
    ("an inspector arrives tomorrow, what will they look at", ["fridge-temps"]),
    # the new insights (other fields of practice)
    ("how often should I open up the boxes so the bees don't leave", ["bee-inspection"]),
    ("our animals keep escaping from the field", ["fence-walk"]),
    ("quick safety briefing for the building crew before work starts", ["toolbox-talk"]),
    ("experienced pilots forgetting routine steps before take-off", ["preflight-checklist"]),
    ("pharmacists grabbing the wrong drug because the names are similar", ["lasa-drugs"]),
    ("how can shop staff cut theft without being rude", ["greet-customers"]),
    ("guests keep complaining about things in their rooms that don't work", ["maintenance-sheet"]),
    ("how do we hand a client's file to another advisor quickly", ["case-summary"]),
    ("keeping social workers safe when they visit families in the evening", ["lone-working"]),
    ("our translators use different words for the same thing", ["glossary"]),
    ("we lost all the pictures from a wedding, how do we avoid that", ["card-backup"]),
    ("our runners keep getting hurt, how hard should training be", ["easy-pace"]),
    ("cyclists at the back of the bunch hit holes in the road", ["group-ride-signals"]),
    ("an actor went on without the letter they needed in the scene", ["props-table"]),
    ("visitors to our services feel ignored and don't come back", ["welcome-greeter"]),
    ("upgrading libraries is always a huge painful job", ["dependency-updates"]),
    ("we can't follow one user's request through our systems", ["structured-logging"]),
    ("someone shared a password in slack, what should our rules be", ["secrets-rotation"]),
    ("how do I know my fancy machine learning approach is actually better", ["baseline-model"]),
    ("a stranger turned up to collect a child from nursery", ["safe-pickup"]),
    ("helping carers get to know the people living in the care home", ["life-story"]),
    ("waiters keep bringing the wrong meals", ["order-readback"]),
    ("warehouse staff walk back and forth too much when collecting orders", ["pick-route"]),
    ("supporting volunteers after upsetting phone calls", ["helpline-debrief"]),
    ("how should an umpire deal with angry players after a call", ["referee-explain"]),
    ("my language students hardly say anything in class", ["teacher-talk-time"]),
    ("what to do before heading into the mountains alone", ["route-plan"]),
    ("our landlord ignores our flat's broken boiler", ["repair-log"]),
    ("background hum ruins our recorded conversations", ["room-tone"]),
    ("getting medicine amounts right for pets", ["weigh-animals"]),
    ("a student's test went missing after the exam", ["exam-papers"]),
    ("colleagues abroad message me at midnight and expect answers", ["core-hours"]),
]
