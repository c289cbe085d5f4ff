"""`python -m push_tools.sim azure|responsys ...`: the simulate command on its own."""

from push_tools.sim.command import main

raise SystemExit(main())
