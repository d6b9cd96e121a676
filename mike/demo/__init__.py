"""Demo tooling: seed a demo (`manage.py seed_demo`) and play a recipient's phone without Twilio
(`manage.py play_phone`, the admin's phone simulator at /admin/phone/)."""
