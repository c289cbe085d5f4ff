"""Asynchronous status: poll accepted provider requests until they are final.

    from consumer.status.poller import build_poller
    poller = build_poller(settings, clients, metrics, decoder=..., outcome_encoder=...)
    await poller.run(stop)     # beside the pipeline in `push-consumer run`,
                               # or alone: `push-consumer status`

answers.py   what one poll said, in a provider-neutral shape (provider modules fill it)
book.py      the pending requests of the assigned partitions, a heap by next poll time
schedule.py  backoff between polls, capped, never past the deadline
verdict.py   what a poll answer means: poll again, or one final outcome per intent
poller.py    the consumer of the pending topic: intake, polls, final outcomes, tombstones
command.py   `push-consumer status`
"""
