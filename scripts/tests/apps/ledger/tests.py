"""The app's own tests, in a top-level tests.py (microblog's way): unittest, an in-memory database."""

import unittest

from ledger import create_app, db


class LedgerCase(unittest.TestCase):
    def setUp(self):
        self.app = create_app("sqlite://")
        self.app.config["TESTING"] = True
        self.context = self.app.app_context()
        self.context.push()
        db.create_all()

    def tearDown(self):
        db.session.remove()
        db.drop_all()
        self.context.pop()

    def test_an_entry_is_counted(self):
        client = self.app.test_client()
        self.assertEqual(client.get("/entries").json, {"count": 0})
        self.assertEqual(client.post("/entries", data={"memo": "rent"}).status_code, 201)
        self.assertEqual(client.get("/entries").json, {"count": 1})


if __name__ == "__main__":
    unittest.main()
