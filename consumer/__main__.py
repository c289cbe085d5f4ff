"""`python -m consumer`: the same CLI as `push-consumer`."""

from consumer.cli import main

raise SystemExit(main())
