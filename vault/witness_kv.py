"""An OpenBao / HashiCorp Vault KV (version 2) path as a witness of the audit checkpoints.

Each checkpoint's statement (``audit.witness``) is written as the secret
``<path>/<position, 20 digits>`` (field ``statement``) with check-and-set 0: written only
if it does not exist yet, never rewritten. Give the vault's token a policy of ``create``
and ``read``/``list`` on that path only (no ``update``, ``delete`` or ``destroy``), so that
whoever holds the vault's host cannot change what the server keeps. Setting:
``VAULT_WITNESS_KV_PATH=secret/archive-vault/audit`` (the KV mount, then the path), on the
server of ``VAULT_TRANSIT_URL`` with its token.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import hvac
import requests
from hvac import exceptions as hv

from audit.witness import STATEMENT_FORMAT, Statement, WitnessConflict


class KvWitness:
    """A KV v2 path of an OpenBao server: one secret per checkpoint, created once."""

    def __init__(self, *, url: str, token: str, location: str, timeout: float = 5.0) -> None:
        mount, _, path = location.strip("/").partition("/")
        if not mount or not path:
            raise ValueError("the KV witness path is '<mount>/<path>', e.g. secret/archive-vault")
        self._url = url
        self._mount = mount
        self._path = path
        self.__client = hvac.Client(url=url, token=token, timeout=timeout)

    def __repr__(self) -> str:
        return f"KvWitness({self.describe()!r})"

    def __reduce__(self) -> Any:
        raise TypeError("KvWitness holds a token and cannot be pickled")

    def describe(self) -> str:
        return f"{self._url}/v1/{self._mount}/data/{self._path}"

    @property
    def _kv(self) -> Any:
        return self.__client.secrets.kv.v2

    def _unavailable(self, exc: BaseException) -> OSError:
        return OSError(f"the KV witness at {self._url} cannot be used ({type(exc).__name__})")

    def _get(self, name: str) -> str | None:
        try:
            reply = self._kv.read_secret_version(
                path=f"{self._path}/{name}", mount_point=self._mount, raise_on_deleted_version=True
            )
        except hv.InvalidPath:
            return None
        except (hv.VaultError, requests.RequestException) as exc:
            raise self._unavailable(exc) from None
        value = reply.get("data", {}).get("data", {}).get("statement")
        return value if isinstance(value, str) else None

    def record(self, statement: Mapping[str, Any]) -> None:
        name = f"{int(statement['position']):020d}"
        payload = json.dumps(dict(statement), sort_keys=True)
        try:
            self._kv.create_or_update_secret(
                path=f"{self._path}/{name}",
                secret={"statement": payload},
                cas=0,
                mount_point=self._mount,
            )
            return
        except hv.InvalidRequest:
            pass  # check-and-set 0: it is there already
        except (hv.VaultError, requests.RequestException) as exc:
            raise self._unavailable(exc) from None
        if self._get(name) != payload:
            raise WitnessConflict(
                f"the KV witness {self.describe()} already holds a different checkpoint at "
                f"position {statement['position']}"
            )

    def read(self) -> list[Statement]:
        try:
            listed = self._kv.list_secrets(path=self._path, mount_point=self._mount)
        except hv.InvalidPath:
            return []
        except (hv.VaultError, requests.RequestException) as exc:
            raise self._unavailable(exc) from None
        out = []
        for name in sorted(k for k in listed["data"]["keys"] if k.isdigit() and len(k) == 20):
            raw = self._get(name)
            data: Any = None
            try:
                data = json.loads(raw) if raw is not None else None
            except ValueError:
                data = None
            ok = isinstance(data, dict) and data.get("format") == STATEMENT_FORMAT
            try:
                ok = ok and int(data["position"]) == int(name)
            except (KeyError, TypeError, ValueError):
                ok = False
            out.append(Statement(f"{self._mount}/{self._path}/{name}", data if ok else None))
        return out
