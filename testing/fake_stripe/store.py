"""The fake's state: every object by id, a clock that tests move, events and their signed
webhook deliveries. One lock guards it all; the HTTP server serves one request at a time."""

import copy
import json
import queue
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from testing.fake_stripe.wire import missing, new_id, signature_header

API_VERSION = "2026-05-27.dahlia"
# Stripe's ids say what an object is; a lookup by id answers "No such <kind>" when it is not.
KINDS = {
    "cus": "customer",
    "prod": "product",
    "price": "price",
    "cs": "checkout.session",
    "bps": "billing_portal.session",
    "sub": "subscription",
    "si": "subscription_item",
    "in": "invoice",
    "il": "line_item",
    "evt": "event",
    "acct": "account",
    "we": "webhook_endpoint",
    "pi": "payment_intent",
    "ch": "charge",
    "fee": "application_fee",
    "re": "refund",
    "tr": "transfer",
}


class Store:
    def __init__(self, public_url: str) -> None:
        self.public_url = public_url
        self.lock = threading.RLock()
        self._outbox: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._deliver_forever, name="webhooks", daemon=True).start()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.objects: dict[str, dict[str, Any]] = {}
            self.offset = 0  # seconds the clock has been moved forward
            self.events: list[str] = []
            self.deliveries: list[dict[str, Any]] = []  # every delivery, in order
            self.collected: list[dict[str, Any]] = []  # deliveries kept for a test to take
            self.endpoints: list[dict[str, Any]] = []
            self.failing_customers: set[str] = set()
            self.trial_warned: set[str] = set()  # subscriptions told their trial ends soon
            self.requests: list[dict[str, Any]] = []
            self.idempotent: dict[str, tuple[int, Any]] = {}  # Idempotency-Key -> the answer
            self.account = self.put(
                {
                    "id": "acct_engramlocal",
                    "object": "account",
                    "type": "standard",
                    "country": "DE",
                    "default_currency": "eur",
                    "email": "billing@example.invalid",
                    "charges_enabled": True,
                    "payouts_enabled": True,
                    "details_submitted": True,
                    "business_profile": {"name": "Engram (local Stripe)"},
                    "settings": {"dashboard": {"display_name": "Engram (local Stripe)"}},
                    "metadata": {},
                    "created": self.now(),
                }
            )

    # --- clock ---------------------------------------------------------------------------------

    def now(self) -> int:
        return int(time.time()) + self.offset

    # --- objects -------------------------------------------------------------------------------

    def put(self, obj: dict[str, Any]) -> dict[str, Any]:
        obj.setdefault("livemode", False)
        obj.setdefault("created", self.now())
        self.objects[obj["id"]] = obj
        return obj

    def create(self, prefix: str, fields: dict[str, Any]) -> dict[str, Any]:
        obj_id = fields.pop("id", None) or new_id(prefix)
        return self.put({"id": obj_id, "object": KINDS[prefix], **fields})

    def get(self, obj_id: str, kind: str | None = None) -> dict[str, Any]:
        obj = self.objects.get(obj_id)
        wanted = kind or KINDS.get(obj_id.split("_", 1)[0], "object")
        if obj is None or (kind is not None and obj["object"] != kind):
            raise missing(wanted, obj_id)
        return obj

    def find(self, kind: str, **equal: Any) -> list[dict[str, Any]]:
        """Objects of ``kind``, newest first, whose fields equal ``equal`` (None: any)."""
        found = [
            obj
            for obj in self.objects.values()
            if obj["object"] == kind
            and all(value is None or obj.get(key) == value for key, value in equal.items())
        ]
        return sorted(found, key=lambda obj: obj["created"], reverse=True)

    def view(self, obj: dict[str, Any]) -> dict[str, Any]:
        """What the API answers: a copy, so later changes never reach an earlier answer."""
        return copy.deepcopy(obj)

    # --- events and webhooks -------------------------------------------------------------------

    def emit(
        self, event_type: str, obj: dict[str, Any], previous: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        data: dict[str, Any] = {"object": self.view(obj)}
        if previous:
            data["previous_attributes"] = previous
        event = self.create(
            "evt",
            {
                "type": event_type,
                "api_version": API_VERSION,
                "data": data,
                "pending_webhooks": len(self.endpoints),
                "request": {"id": None, "idempotency_key": None},
            },
        )
        self.events.append(event["id"])
        payload = json.dumps(event, indent=2)
        for endpoint in self.endpoints:
            # Signed with the wall clock, as Stripe signs: the fake's moved clock is about
            # subscriptions, not about when a delivery is made.
            timestamp = int(time.time())
            delivery = {
                "event_id": event["id"],
                "type": event_type,
                "url": endpoint["url"],
                "payload": payload,
                "headers": {
                    "Content-Type": "application/json; charset=utf-8",
                    "Stripe-Signature": signature_header(payload, endpoint["secret"], timestamp),
                },
            }
            self.deliveries.append(delivery)
            if endpoint["url"]:
                self._outbox.put(delivery)
            else:
                self.collected.append(delivery)
        return event

    def take_collected(self) -> list[dict[str, Any]]:
        taken, self.collected = self.collected, []
        return taken

    def _deliver_forever(self) -> None:
        while True:
            delivery = self._outbox.get()
            request = urllib.request.Request(
                delivery["url"],
                data=delivery["payload"].encode(),
                headers=delivery["headers"],
                method="POST",
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as answer:
                    delivery["response_status"] = answer.status
            except urllib.error.HTTPError as exc:
                delivery["response_status"] = exc.code
            except OSError as exc:
                delivery["response_status"] = None
                delivery["response_error"] = str(exc)
