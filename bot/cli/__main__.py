"""``python -m socbot.bot.cli``: the ``socbot`` command."""

import sys

from socbot.bot.cli import main

sys.exit(main())
