"""Development tools beside the runtime: simulators, demo, benchmark, local broker, producer.

Installed with the `dev` extra (`pip install 'push-dispatch[dev]'`); the runtime package
`consumer` never imports this package, so the service loads none of its dependencies.
"""
