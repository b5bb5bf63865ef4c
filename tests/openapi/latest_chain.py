"""Logs in through the client generated from the gateway's OpenAPI document and
reads the latest chain: `latest_chain.py BASE_URL EMAIL PASSWORD PRODUCT`.
Prints `PRODUCT EXPIRY strikes=N calls=N ts=…`."""

import sys

from deltastream_client import AuthenticatedClient, Client
from deltastream_client.api.auth import login
from deltastream_client.api.chain import chain_latest
from deltastream_client.models import ChainView, Credentials, TokenResponse


def main() -> None:
    base, email, password, product = sys.argv[1:5]
    anonymous = Client(base_url=base, raise_on_unexpected_status=True)
    session = login.sync(client=anonymous, body=Credentials(email=email, password=password))
    if not isinstance(session, TokenResponse):
        sys.exit(f"login failed: {session}")
    client = AuthenticatedClient(base_url=base, token=session.token, raise_on_unexpected_status=True)
    # The served document lists the configured products as an enum.
    chain = chain_latest.sync(client=client, product=type_of_product()(product))
    if not isinstance(chain, ChainView):
        sys.exit(f"reading the latest chain failed: {chain}")
    print(f"{chain.product} {chain.expiry} strikes={len(chain.strikes)} calls={len(chain.calls)} ts={chain.ts}")


def type_of_product():
    """The type the generated `chain_latest` takes for `product` (an enum of the
    configured products, or plain `str`)."""
    import inspect

    annotation = inspect.signature(chain_latest.sync).parameters["product"].annotation
    if isinstance(annotation, str):
        import deltastream_client.models as models

        return getattr(models, annotation, str)
    return annotation


if __name__ == "__main__":
    main()
