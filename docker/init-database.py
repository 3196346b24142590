"""Create (once) the production database: trytond tables, every cc module
with zh_CN, the company and closed first-login wizards; no demo users.
Safe to run at every start: it only does what is missing.

Environment: CC_DATABASE_URI, CC_DATABASE_NAME, CC_ADMIN_PASSWORD_FILE."""
import os
from pathlib import Path

from ccsuite import database, firstlogin


def main():
    name = os.environ.get('CC_DATABASE_NAME', 'cc')
    password = Path(os.environ['CC_ADMIN_PASSWORD_FILE']).read_text().strip()
    created = database.initialise(name, password)
    firstlogin.run(name, demo_users=False)
    print(f"database {name}: {'created' if created else 'up to date'}")


if __name__ == '__main__':
    main()
