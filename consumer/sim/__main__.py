"""`python -m consumer.sim azure|responsys ...`: the simulate command on its own."""

from consumer.sim.command import main

raise SystemExit(main())
