"""The reward pipeline: the one place that strings the domain services together.

Each domain app (`calls`, `recipients`, `giftcards`, …) changes its own rows and reads the others'
models; none calls another's services or tasks. This package does, in the order a reward moves:

    condition met (`conditions`)  → the recipient is moved on (`approval.advance_recipient`):
    approval (`approval`)         → the opt-in text (`opt_in`) → the YES (`inbound`)
    claim (`claims`)              → a provider purchase when stock is out (giftcards.services.purchase)
    delivery (`delivery`)         → Twilio's status callbacks (`inbound.apply_sms_status`)
    sweeps (`sweeps`)             → whatever a lost message, a dead worker or a later change left
                                    waiting is moved on again; staff alerts (giftcards.alerts)

`tasks` holds every Celery task, under the names they were registered with before this package
existed (queued messages and the beat schedule resolve by name).

Webhooks, the admin, the demo tools and commands call these functions; a function here runs the
domain services inside one transaction where they must commit together, and moves the recipient
on after commit (`transaction.on_commit`), so a rolled-back change texts and claims nothing.
"""
