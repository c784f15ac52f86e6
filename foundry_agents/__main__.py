import sys

from foundry_agents.cli import main

sys.exit(main())
