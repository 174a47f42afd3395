"""``socbot console``: a Slack channel on loopback, for trying the bot without a workspace.

The console plays Slack's part and nothing else. :mod:`.workspace` answers the Web API calls
the bot makes (its ``WebClient`` is pointed at the console's ``/api/``); :mod:`.interactions`
turns a click, a modal submission, a ``/soc`` command or opening App Home into the payload
Slack would send and POSTs it to the bot's HTTP endpoint signed with the signing secret;
:mod:`.server` serves the page (``static/``), which renders the bot's Block Kit itself.
:mod:`.demo` runs the bot with moto's AWS behind it and feeds it the bundled samples.
"""
