"""The relevance set: insights from many fields of practice, and questions about them.

Written for Hearth (issue 16): `CORPUS` is 130 insights, from software teams to nursing,
teaching, gardening, kitchens, labs, choirs and treasurers. `QUESTIONS` asks after each
of them the way a member would weeks later, in their own words, mostly sharing no word
with the insight ("what keeps our meetings from running over"). `KEYWORD_QUERIES` are
terse queries in the insights' own words.
"""

from __future__ import annotations

CORPUS = [  # (key, text); keys name the insights the questions expect
    ("small-prs", "Small pull requests get reviewed within a day; big ones wait a week"),
    ("review-checklist", "A short review checklist catches missing tests and unclear names"),
    ("review-tone", "Phrase review comments as questions, not orders, to keep feedback kind"),
    (
        "review-rotation",
        "Rotate the reviewer on duty so no one becomes the bottleneck for approvals",
    ),
    ("buddy", "Every newcomer gets a buddy for their first month to ask the silly questions"),
    (
        "onboarding-doc",
        "Keep one onboarding page with accounts, tools and who to ask, updated by each new hire",
    ),
    (
        "first-commit",
        "New joiners ship a tiny change on day one so the deploy pipeline feels less scary",
    ),
    ("retro-actions", "Retrospectives end with at most two actions, each with an owner and a date"),
    ("retro-safety", "Start a retro with a quick safety check so quieter people speak up"),
    (
        "retro-format",
        "Change the retrospective format every few sprints to avoid going through the motions",
    ),
    (
        "postmortem-blameless",
        "Incident postmortems are blameless: ask what made the mistake easy, not who made it",
    ),
    (
        "incident-commander",
        "During an outage one incident commander coordinates and everyone else fixes",
    ),
    ("runbooks", "Write a runbook for every alert that pages someone at night"),
    (
        "status-page",
        "Update the public status page within fifteen minutes of a customer-facing outage",
    ),
    ("flaky-tests", "Quarantine flaky tests the day they flake and fix them within a week"),
    (
        "test-pyramid",
        "Most tests should be fast unit tests; keep slow end-to-end tests for critical paths",
    ),
    ("tdd-legacy", "Before changing legacy code, pin its behaviour with characterization tests"),
    ("adr", "Record architecture decisions in short ADRs next to the code they shape"),
    ("docs-as-code", "Documentation lives in the repository and is reviewed like code"),
    ("readme-first", "Write the README before the code to find out what you are building"),
    ("mentoring-goals", "Mentoring works best with a goal agreed in the first session"),
    (
        "mentoring-rotation",
        "Juniors who meet several mentors over a year grow faster than with one",
    ),
    (
        "pairing-remote",
        "Remote pairing works with short rotations and a shared editor, not screen sharing alone",
    ),
    ("mob-programming", "Mob programming on hard bugs spreads knowledge faster than any wiki page"),
    ("no-meeting-day", "A meeting-free Wednesday gave everyone a full day of focus time"),
    (
        "standup-async",
        "Asynchronous written standups replaced the daily call for a distributed team",
    ),
    ("agenda", "No agenda, no meeting: invites without an agenda may be declined"),
    ("demo-day", "A monthly demo day lets teams show unfinished work and get early feedback"),
    ("tech-debt-budget", "Reserve a fifth of each sprint for paying down technical debt"),
    ("feature-flags", "Ship behind feature flags so releases and launches are separate decisions"),
    ("accessibility", "Test every new screen with a screen reader before calling it done"),
    (
        "oncall-handover",
        "On-call handovers include open incidents, noisy alerts and pending changes",
    ),
    # meetings and facilitation
    (
        "timebox-agenda",
        "Give every agenda item a timebox and a named facilitator who calls time; our meetings end when they are scheduled to",
    ),
    (
        "parking-lot",
        "Park side topics on a visible list and pick them up at the end instead of derailing the discussion",
    ),
    (
        "decision-log",
        "Write each decision and its reason in a shared log straight after the call; nobody remembers who agreed to what a month later",
    ),
    (
        "silent-brainstorm",
        "Brainstorm in silence on sticky notes for five minutes before anyone speaks, so the loudest voice does not set the direction",
    ),
    (
        "meeting-roles",
        "Rotate the note-taker role each week so it does not always fall on the same junior person",
    ),
    # onboarding / people
    (
        "exit-interviews",
        "Exit conversations with people who leave tell us more about our culture than any engagement survey",
    ),
    (
        "one-on-ones",
        "Fortnightly one-to-ones belong to the report, not the manager: they set the topics",
    ),
    (
        "praise-public",
        "Thank people by name in the team channel; specific public recognition keeps volunteers coming back",
    ),
    (
        "hiring-work-sample",
        "A short paid work sample predicts job performance better than brain-teaser interviews",
    ),
    (
        "burnout-signals",
        "Late-night messages and skipped holidays are early warning signs of exhaustion; a lead should ask, not admire",
    ),
    # teaching / education
    (
        "retrieval-practice",
        "Low-stakes quizzes at the start of a lesson help pupils remember last week's material far better than rereading notes",
    ),
    (
        "wait-time",
        "After asking the class a question, wait a full five seconds before calling on anyone; more pupils think of an answer",
    ),
    (
        "seating-plan",
        "A seating plan made before the first lesson prevents cliques and makes learning names quicker",
    ),
    (
        "parent-contact",
        "Phone a parent with good news in the first month; later difficult calls go much better",
    ),
    (
        "marking-codes",
        "Mark essays with a short code per common error and let students correct them themselves in class",
    ),
    (
        "exit-tickets",
        "A one-question exit slip at the end of a lesson shows which students did not get the concept",
    ),
    # healthcare / nursing
    (
        "handover-sbar",
        "Shift handover follows SBAR: situation, background, assessment, recommendation, so nothing important is skipped between nurses",
    ),
    (
        "hand-hygiene",
        "Hand rub dispensers at every bedside doubled how often staff cleaned their hands between patients",
    ),
    ("falls-prevention", "Hourly rounding on elderly patients cut falls at night on our ward"),
    (
        "med-double-check",
        "Two nurses independently check high-risk medication doses such as insulin and heparin before giving them",
    ),
    (
        "patient-teachback",
        "Ask patients to explain their discharge instructions back in their own words to catch misunderstandings",
    ),
    (
        "night-shift-sleep",
        "Staff rotating onto nights should anchor four hours of sleep at the same time every day",
    ),
    # gardening / farming
    (
        "companion-planting",
        "Marigolds planted between the tomatoes kept aphids and whitefly away without spraying",
    ),
    (
        "mulch",
        "A thick layer of straw mulch keeps beds moist through dry spells and smothers weeds",
    ),
    (
        "crop-rotation",
        "Never grow potatoes or tomatoes in the same bed two years running; blight and pests build up in the soil",
    ),
    (
        "seed-saving",
        "Save seed only from the strongest open-pollinated plants and label the envelopes with the year",
    ),
    (
        "compost-ratio",
        "Compost heaps rot quickly with roughly three parts dry brown material to one part green kitchen waste",
    ),
    (
        "watering-morning",
        "Water at the roots early in the morning; wet leaves in the evening invite mildew",
    ),
    (
        "community-garden-rota",
        "A shared watering rota with swap rules kept the community plot alive through the summer holidays",
    ),
    # woodworking / making
    (
        "sharp-chisels",
        "A sharp chisel is safer than a dull one because you need less force and it does not slip",
    ),
    (
        "measure-twice",
        "Mark the waste side of every cut with a cross; most ruined boards came from cutting on the wrong side of the line",
    ),
    (
        "glue-clamps",
        "Dry-fit the whole assembly before opening the glue; there is no time to find a missing clamp afterwards",
    ),
    (
        "dust-extraction",
        "Fine dust from sanding is the real long-term health hazard in the workshop: extraction and a mask every time",
    ),
    (
        "wood-movement",
        "Solid wood tabletops swell and shrink with the seasons, so fix them with slotted buttons, not glue",
    ),
    (
        "makerspace-induction",
        "Nobody uses the laser cutter before an induction by a trained member; the fire risk is real",
    ),
    # cooking / kitchen
    (
        "mise-en-place",
        "Prep and lay out every ingredient before service starts; the rush is no time to chop onions",
    ),
    (
        "knife-grip",
        "Curl your fingertips under when chopping so the knife rests against the knuckles",
    ),
    (
        "allergen-labels",
        "Label every container with allergens and the date it was made, even for staff meals",
    ),
    (
        "fridge-temps",
        "Log walk-in fridge temperatures twice a day; an inspector asks for the record before anything else",
    ),
    (
        "batch-cooking",
        "Cook stock and sauces in big batches on quiet days and freeze them in portions",
    ),
    (
        "food-bank-stock",
        "Rotate donated tins by best-before date so the oldest go out first and nothing is thrown away",
    ),
    # community organising / nonprofits
    (
        "volunteer-first-task",
        "Give new volunteers a concrete task on their first visit; people who only watch rarely return",
    ),
    (
        "grant-reporting",
        "Keep photos and attendance numbers from every session; funders' end-of-year reports need them",
    ),
    (
        "donor-thanks",
        "Thank every donor within 48 hours, personally if you can; second gifts depend on it",
    ),
    (
        "newsletter-short",
        "Our monthly newsletter doubled its open rate when we cut it to three short items with one link each",
    ),
    (
        "event-checklist",
        "A shared event checklist (venue, access, first aid, keys, clean-up) stops the same volunteer doing everything",
    ),
    (
        "conflict-mediation",
        "When two members fall out, a neutral third person hears each separately before any joint meeting",
    ),
    (
        "accessibility-venue",
        "Check step-free access, toilets and hearing loops before booking a venue, not after someone cannot get in",
    ),
    # design / UX / research
    (
        "usability-five",
        "Five users in a usability test find most of the serious problems; test early and often instead of once at the end",
    ),
    (
        "interview-questions",
        "In user interviews ask about the last time they did the task, not what they would do hypothetically",
    ),
    (
        "design-critique",
        "Design critiques start with what the design is trying to achieve before anyone gives opinions",
    ),
    (
        "plain-language",
        "Write forms in plain language at a reading age of about nine; completion rates went up",
    ),
    (
        "prototype-paper",
        "Paper prototypes get more honest feedback than polished mock-ups because people are not afraid to criticise them",
    ),
    # science lab / research
    (
        "lab-notebook",
        "Write lab notebook entries on the day, with dates and sample IDs; memory is not a record",
    ),
    (
        "preregistration",
        "Preregister the analysis plan before collecting data so no one is tempted to fish for significance",
    ),
    (
        "reagent-inventory",
        "A shared reagent inventory with owners and expiry dates stopped us ordering the same antibody twice",
    ),
    (
        "journal-club",
        "Journal club works better when one person presents a paper's methods critically rather than summarising it",
    ),
    (
        "data-backup",
        "Raw data goes to two places on the day it is collected: the group drive and an offsite copy",
    ),
    (
        "code-reproducible",
        "Analysis scripts are versioned and rerun from raw data before submission, so every figure can be regenerated",
    ),
    # writing / journalism / editing
    (
        "second-source",
        "Never publish a claim from a single anonymous source; get it confirmed independently",
    ),
    (
        "inverted-pyramid",
        "Put the most important facts in the first paragraph; most readers never reach the end",
    ),
    (
        "edit-read-aloud",
        "Read a draft aloud before sending it; clumsy sentences and missing words jump out",
    ),
    (
        "style-guide",
        "One shared style guide settles arguments about commas, capitals and dates once and for all",
    ),
    (
        "deadline-buffer",
        "Ask writers for copy two days before the real deadline; something always needs a rewrite",
    ),
    # music / choir / performing
    (
        "choir-sectionals",
        "Sectional rehearsals for the tenors and basses before the full rehearsal saved weeks of learning",
    ),
    (
        "warmup-voice",
        "Ten minutes of vocal warm-up before singing prevents strained voices by the end of the evening",
    ),
    (
        "setlist-order",
        "Open a gig with a song the band knows cold; nerves settle before the difficult pieces",
    ),
    (
        "stage-fright",
        "Slow breathing out for longer than breathing in calms stage fright before a performance",
    ),
    # sports coaching
    (
        "small-sided-games",
        "Small-sided games give young players many more touches of the ball than full matches",
    ),
    (
        "coach-feedback-sandwich",
        "Young athletes improve more from one specific cue per drill than from a list of corrections",
    ),
    (
        "injury-warmup",
        "A structured warm-up with balance exercises before training reduced knee injuries in our club",
    ),
    (
        "playing-time",
        "Everyone under twelve gets equal playing time; the children who drop out are the ones on the bench",
    ),
    # customer support / sales
    (
        "macro-personal",
        "Canned replies are a starting point; a support reply should always mention the customer's actual problem",
    ),
    (
        "first-response",
        "Answering within an hour matters more to customers than solving the issue in the first reply",
    ),
    (
        "churn-calls",
        "Call customers who cancel; the reasons they give on the phone differ from the survey",
    ),
    (
        "discovery-questions",
        "In sales calls, ask about the prospect's current process before pitching any features",
    ),
    (
        "knowledge-base",
        "Every question support answers twice becomes an article in the help centre",
    ),
    # project management / operations
    ("wip-limits", "Limit work in progress to three cards per person; finishing beats starting"),
    (
        "premortem",
        "Before a project starts, imagine it has failed and list why; the risks surface early",
    ),
    ("estimates-ranges", "Give estimates as ranges with a confidence, never as a single date"),
    (
        "scope-creep",
        "New requests mid-project go on a change list with their cost, not straight into the plan",
    ),
    (
        "vendor-contract",
        "Read the exit and data-return clauses of a supplier contract before signing, not when you want to leave",
    ),
    # facilities / safety
    (
        "fire-drill",
        "Unannounced fire drills twice a year show where the evacuation plan really breaks",
    ),
    (
        "key-register",
        "A key register with signatures ended the mystery of who has the storeroom keys",
    ),
    (
        "ladder-safety",
        "Someone holds the ladder at the bottom; most of our accidents were falls from steps",
    ),
    # libraries / archives
    (
        "weeding",
        "Weed the collection every year: books nobody borrowed in five years make room for new ones",
    ),
    (
        "archive-metadata",
        "Catalogue donated photographs with who, where and when while the donor is still in the room",
    ),
    (
        "storytime",
        "Toddler story time with songs and movement brought young families into the library",
    ),
    # finance / admin
    (
        "receipts-monthly",
        "Reconcile receipts every month, not at year end; the treasurer's job becomes an evening, not a week",
    ),
    (
        "two-signatures",
        "Payments above a set amount need two signatories; it protects the treasurer as much as the money",
    ),
    (
        "budget-variance",
        "Compare actual spending with the budget each quarter and explain any line that is off by more than ten percent",
    ),
    (
        "petty-cash",
        "Petty cash is counted by two people and logged; small sums caused the biggest arguments",
    ),
    # open source / maintainers
    (
        "good-first-issue",
        "Label small, well-described issues for first-time contributors and answer their pull requests quickly",
    ),
    (
        "code-of-conduct",
        "A code of conduct with a named contact and a private reporting channel, not just a file in the repo",
    ),
    (
        "release-notes",
        "Write release notes for users, not for developers: what changed for them and what they need to do",
    ),
    (
        "maintainer-burnout",
        "Maintainers say no to feature requests that they will not maintain; every yes is a commitment for years",
    ),
    (
        "semver",
        "Breaking changes only in major versions, announced a release ahead with deprecation warnings",
    ),
    (
        "security-disclosure",
        "Publish how to report security issues privately; a public bug report about a vulnerability helps attackers first",
    ),
]

KEYWORD_QUERIES = [  # terse, in the insights' own words (the set before issue 16)
    ("code review", ["review-checklist", "review-tone", "review-rotation"]),
    ("reviewed faster pull requests", ["small-prs"]),
    ("newcomer onboarding", ["buddy", "onboarding-doc", "first-commit"]),
    ("retro actions owner", ["retro-actions"]),
    ("retrospective", ["retro-actions", "retro-safety", "retro-format"]),
    ("blameless postmortem", ["postmortem-blameless"]),
    ("outage coordination", ["incident-commander", "status-page"]),
    ("flaky tests quarantine fix", ["flaky-tests"]),
    ("testing legacy code safely", ["tdd-legacy"]),
    ("documentation", ["docs-as-code", "adr", "readme-first", "onboarding-doc"]),
    ("mentors for juniors", ["mentoring-goals", "mentoring-rotation"]),
    ("pair programming remote", ["pairing-remote", "mob-programming"]),
    ("fewer meetings focus", ["no-meeting-day", "standup-async", "agenda"]),
    ("daily standup", ["standup-async"]),
    ("release safely", ["feature-flags", "first-commit"]),
    ("alerts at night", ["runbooks", "oncall-handover"]),
    ("kind feedback", ["review-tone", "demo-day"]),
    ("technical debt time", ["tech-debt-budget"]),
    ("screen reader accessibility", ["accessibility"]),
    ("welcome new hires", ["buddy", "onboarding-doc", "first-commit"]),
]

QUESTIONS = [  # (question as asked, keys of the insights it is after)
    # the original 32 (software-team practice)
    (
        "why do some changes sit for ages before anyone approves them",
        ["small-prs", "review-rotation"],
    ),
    ("what should I look for when I check a colleague's code", ["review-checklist"]),
    ("how do I point out problems without sounding bossy", ["review-tone"]),
    ("one person is approving everything and it slows us down", ["review-rotation"]),
    ("how do we support someone in their first weeks", ["buddy", "onboarding-doc"]),
    ("where do new starters find logins and who to talk to", ["onboarding-doc"]),
    ("how do we get a new developer comfortable putting something live", ["first-commit"]),
    ("our retros produce long to-do lists that nobody follows up", ["retro-actions"]),
    ("how do we get quiet team members to talk in reflection sessions", ["retro-safety"]),
    ("our look-back sessions have become boring and repetitive", ["retro-format"]),
    ("how do we talk about an incident without pointing fingers", ["postmortem-blameless"]),
    ("who is in charge when the site goes down", ["incident-commander"]),
    ("what should someone woken up by a page at 3am have to hand", ["runbooks"]),
    ("how fast do we tell customers that the service is broken", ["status-page"]),
    ("tests that pass and fail at random", ["flaky-tests"]),
    ("our test suite takes an hour, what kind of tests should we write", ["test-pyramid"]),
    ("how do I safely modify old code nobody understands", ["tdd-legacy"]),
    ("where do we write down why we picked a design", ["adr"]),
    ("how do we keep the docs from going stale", ["docs-as-code"]),
    ("how do I figure out what a project is for before coding it", ["readme-first"]),
    ("how should a first meeting with a mentee go", ["mentoring-goals"]),
    ("is it better for juniors to have one mentor or several", ["mentoring-rotation"]),
    ("working together on code when we are in different cities", ["pairing-remote"]),
    ("the whole team working on one difficult bug together", ["mob-programming"]),
    ("how do people get uninterrupted time to concentrate", ["no-meeting-day"]),
    ("do we really need a call every morning", ["standup-async"]),
    ("can I refuse invitations that have no plan", ["agenda"]),
    ("how do we show work in progress to get opinions early", ["demo-day"]),
    ("when do we clean up the mess in our codebase", ["tech-debt-budget"]),
    ("how do we decouple deploying from turning things on for users", ["feature-flags"]),
    ("making sure blind users can use our app", ["accessibility"]),
    ("what to pass on to the next person on call", ["oncall-handover"]),
    # meetings and facilitation
    ("what keeps our meetings from running over", ["timebox-agenda"]),
    ("people keep going off on tangents in discussions", ["parking-lot"]),
    ("we forget what we agreed in calls", ["decision-log"]),
    ("the same loud people dominate every ideas session", ["silent-brainstorm"]),
    ("the youngest colleague always ends up writing the minutes", ["meeting-roles"]),
    # people
    ("what can we learn from staff who quit", ["exit-interviews"]),
    ("who decides what to talk about in my regular catch-up with my boss", ["one-on-ones"]),
    ("how do we keep volunteers motivated", ["praise-public", "volunteer-first-task"]),
    ("what is the best way to assess candidates", ["hiring-work-sample"]),
    ("how can I tell a colleague is overworked", ["burnout-signals"]),
    # teaching
    ("how do students retain what they learned", ["retrieval-practice"]),
    ("only the same two kids ever put their hands up", ["wait-time"]),
    ("where should pupils sit on day one", ["seating-plan"]),
    ("building a good relationship with mums and dads", ["parent-contact"]),
    ("grading homework takes all my weekend", ["marking-codes"]),
    ("how do I know who understood today's topic", ["exit-tickets"]),
    # healthcare
    ("how should nurses pass on patients at the change of shift", ["handover-sbar"]),
    ("getting staff to wash their hands more", ["hand-hygiene"]),
    ("old people keep tripping on the ward at night", ["falls-prevention"]),
    ("avoiding dosing errors with dangerous drugs", ["med-double-check"]),
    ("making sure patients understood what to do when they go home", ["patient-teachback"]),
    ("how do you cope with sleep when working overnight", ["night-shift-sleep"]),
    # gardening
    ("bugs are eating my tomato plants, I don't want pesticides", ["companion-planting"]),
    ("how do I stop the soil drying out in a heatwave", ["mulch"]),
    ("what to plant where this year in the vegetable patch", ["crop-rotation"]),
    ("keeping seeds for next year", ["seed-saving"]),
    ("my compost is slimy and slow", ["compost-ratio"]),
    ("what time of day should I water the garden", ["watering-morning"]),
    ("who looks after the allotment when everyone is on holiday", ["community-garden-rota"]),
    # woodworking
    ("is a blunt tool more dangerous", ["sharp-chisels"]),
    ("I keep cutting boards too short", ["measure-twice"]),
    ("gluing up a cabinet went wrong halfway", ["glue-clamps"]),
    ("is sawdust bad for your lungs", ["dust-extraction"]),
    ("my table top cracked over the winter", ["wood-movement"]),
    ("can any member use the big machines", ["makerspace-induction"]),
    # kitchen
    ("getting organised before the dinner rush", ["mise-en-place"]),
    ("how not to cut yourself when slicing vegetables", ["knife-grip"]),
    ("what do we have to write on food tubs", ["allergen-labels"]),
    ("what does the health inspector check first", ["fridge-temps"]),
    ("saving time on sauces during busy weeks", ["batch-cooking"]),
    ("stopping donated food from expiring on the shelves", ["food-bank-stock"]),
    # community / nonprofit
    ("new helpers come once and never again", ["volunteer-first-task"]),
    ("what evidence do funders want at the end of the year", ["grant-reporting"]),
    ("how do we get people who gave money to give again", ["donor-thanks"]),
    ("nobody reads our email updates", ["newsletter-short"]),
    ("one organiser ends up doing all the work for our gatherings", ["event-checklist"]),
    ("two members are feuding, how should we step in", ["conflict-mediation"]),
    ("a wheelchair user could not get into our event", ["accessibility-venue"]),
    # design / research
    ("how many people do we need to try out our website", ["usability-five"]),
    ("what to ask customers when researching their needs", ["interview-questions"]),
    ("feedback sessions on designs turn into matters of taste", ["design-critique"]),
    ("people give up halfway through our application form", ["plain-language"]),
    ("testing ideas cheaply before building anything", ["prototype-paper"]),
    # lab
    ("how should I record my experiments", ["lab-notebook"]),
    ("avoiding p-hacking in our studies", ["preregistration"]),
    ("we bought the same chemicals twice by accident", ["reagent-inventory"]),
    ("making our paper discussion group more useful", ["journal-club"]),
    ("what if the lab server dies and we lose our measurements", ["data-backup"]),
    ("can we recreate the charts in our paper from scratch", ["code-reproducible"]),
    # writing
    ("how do we verify a tip before we run the story", ["second-source"]),
    ("how should I structure a news article", ["inverted-pyramid"]),
    ("how to catch typos in my writing", ["edit-read-aloud"]),
    ("editors keep arguing about punctuation", ["style-guide"]),
    ("articles always arrive too late to fix", ["deadline-buffer"]),
    # music
    ("the choir takes forever to learn new pieces", ["choir-sectionals"]),
    ("singers are hoarse after long rehearsals", ["warmup-voice"]),
    ("which song should the band start a concert with", ["setlist-order"]),
    ("I get terribly nervous before going on stage", ["stage-fright"]),
    # sports
    ("kids barely touch the ball at football practice", ["small-sided-games"]),
    ("how to correct a young player's technique", ["coach-feedback-sandwich"]),
    ("how do we prevent players getting hurt", ["injury-warmup"]),
    ("children quit the team because they sit out matches", ["playing-time"]),
    # support / sales
    ("our template answers feel robotic to customers", ["macro-personal"]),
    ("what matters most to people who contact the help desk", ["first-response"]),
    ("why are clients leaving us", ["churn-calls"]),
    ("how should a first conversation with a potential buyer go", ["discovery-questions"]),
    ("we answer the same customer questions over and over", ["knowledge-base"]),
    # projects
    ("everyone has too many tasks half done", ["wip-limits"]),
    ("how do we spot risks before kicking off", ["premortem"]),
    ("our deadlines are always wrong", ["estimates-ranges"]),
    ("the client keeps adding things to the project", ["scope-creep"]),
    ("what to check before signing with a supplier", ["vendor-contract"]),
    # facilities
    ("how do we know if everyone could get out of the building in an emergency", ["fire-drill"]),
    ("we never know who has the keys to the cupboard", ["key-register"]),
    ("staff falling while reaching high shelves", ["ladder-safety"]),
    # library
    ("the shelves are full, how do we decide what to get rid of", ["weeding"]),
    ("describing old pictures people give to the archive", ["archive-metadata"]),
    ("getting families with small children to visit the library", ["storytime"]),
    # finance
    ("the end of year accounts are a nightmare", ["receipts-monthly"]),
    ("protecting the club's money from fraud", ["two-signatures", "petty-cash"]),
    ("are we overspending compared with the plan", ["budget-variance"]),
    ("arguments about small cash amounts in the office", ["petty-cash"]),
    # open source
    ("how do we attract new contributors to the project", ["good-first-issue"]),
    ("how do people report harassment in our community", ["code-of-conduct"]),
    ("what to write when publishing a new version", ["release-notes"]),
    ("we keep accepting features we cannot support", ["maintainer-burnout"]),
    ("how do we change the API without breaking people's code", ["semver"]),
    ("someone found a hole in our software, how should they tell us", ["security-disclosure"]),
]
