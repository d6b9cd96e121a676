"""The imports on the embedded demo's SQLite (`make run`): the same file imported twice imports
its rows once, the second run reporting every row as already there, external ids included
(their duplicate check compares a JSON key's text, which SQLite must be asked for as text)."""

import re

from tests.core.test_settings import run

SETUP = """
import django; django.setup()
from mike.accounts.models import Organization
from recipients.models import Audience
client = Organization.objects.create(kind="client", name="Demo roofing", slug="demo-roofing")
print(Audience.objects.create(client=client, name="Spring mailing").pk)
"""

FILE = (
    "first_name,last_name,phone,email,zip,customer id\r\n"
    "José,Núñez,(512) 555-0101,jose@example.com,78701,C-1\r\n"
    "Siobhán,O'Brien,512.555.0102,,78702,C-2\r\n"
    "Mary Ann,Smith,,mary@example.com,78703,\r\n"
)


def test_a_second_import_of_the_same_file_imports_nothing_on_sqlite(tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}"}
    migrated = run("", env, args=["manage.py", "migrate", "--noinput", "-v", "0"])
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    made = run(SETUP, env)
    assert made.returncode == 0, made.stderr
    audience = made.stdout.strip().splitlines()[-1]
    people = tmp_path / "audience.csv"
    people.write_text(FILE, encoding="utf-8-sig")

    def import_file():
        done = run(
            "", env, args=["manage.py", "import_recipients", "--audience", audience, str(people)]
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    first, second = import_file(), import_file()

    assert re.search(r"3 imported", first), first
    assert re.search(r"0 imported", second), second
    assert re.search(r"3 duplicates?", second), second
