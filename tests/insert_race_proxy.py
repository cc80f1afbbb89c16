"""A fault-injecting TCP proxy in front of a real MongoDB-wire server on loopback: one real insert race.

MongoDB runs an upsert as "find the document; none: insert one". Two writers upserting one new
product can both find nothing, and the second insert is then refused by the unique index (E11000).
SecantusDB runs each upsert's find and insert under one collection lock, so two clients never
interleave there. This proxy makes the interleaving happen, on the wire, with the real server:

1. it forwards every message unchanged, except the first ``update`` command (an ``OP_MSG``) holding
   an upsert whose filter names ``key``;
2. it holds that command and inserts ``rival`` (a document with the same key, as another crawl
   would) through its own connection to the real server;
3. it forwards the held command with the upsert's filter narrowed by ``_id: {$exists: false}``,
   which no stored document matches: the server takes the upsert's insert branch *after* the
   rival's insert, the interleaving of a lost race, and its own unique index answers (E11000
   with ``keyPattern`` and ``keyValue``, in the server's own reply, recorded in
   ``raced_replies``). Without the unique index the server inserts a second document instead.

The answer is the server's, not made up by the proxy; only the filter of that one statement is
changed, which adds no field to the inserted document (``$exists`` is not an equality).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import bson
from pymongo import MongoClient
from pymongo.uri_parser import parse_uri

if TYPE_CHECKING:
    from types import TracebackType
    from typing import Self

OP_MSG = 2013
_HEADER = struct.Struct("<iiii")  # messageLength, requestID, responseTo, opCode
_CHECKSUM_PRESENT = 1
_LOOPBACK = "127.0.0.1"


class InsertRaceProxy:
    """Forward MongoDB clients to ``server_uri`` on loopback, racing the first upsert of ``key``."""

    def __init__(
        self, server_uri: str, database: str, collection: str, key: dict[str, Any], rival: dict[str, Any]
    ) -> None:
        ((host, port),) = parse_uri(server_uri)["nodelist"]
        self.upstream = (host, port)
        self.server_uri = server_uri
        self.database, self.collection = database, collection
        self.key, self.rival = key, rival
        self.raced_replies: list[dict[str, Any]] = []  # the server's replies to the raced commands
        self._raced_request_ids: set[int] = set()
        self._lock = threading.Lock()
        self._raced = False
        self._listener = socket.create_server((_LOOPBACK, 0))
        self._listener.settimeout(0.1)
        self._stopping = threading.Event()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._rival_client: MongoClient[dict[str, Any]] = MongoClient(server_uri, tz_aware=True)

    @property
    def uri(self) -> str:
        """The proxy's address, with the server's credentials (they pass through the proxy)."""
        parsed = parse_uri(self.server_uri)
        userinfo, options = "", "directConnection=true"
        if parsed["username"]:
            userinfo = f"{quote(parsed['username'], safe='')}:{quote(parsed['password'] or '', safe='')}@"
            options += f"&authSource={parsed['options'].get('authsource', 'admin')}"
        return f"mongodb://{userinfo}{_LOOPBACK}:{self._listener.getsockname()[1]}/?{options}"

    @property
    def raced(self) -> bool:
        return self._raced

    def __enter__(self) -> Self:
        self._spawn(self._accept)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stopping.set()
        with self._lock:
            sockets, threads = list(self._sockets), list(self._threads)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in recv()
        for thread in threads:
            thread.join(timeout=5)
        self._listener.close()
        self._rival_client.close()

    # --- forwarding ------------------------------------------------------------------------------

    def _spawn(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            client.settimeout(None)
            server = socket.create_connection(self.upstream)
            with self._lock:
                self._sockets += [client, server]
            self._spawn(self._client_to_server, client, server)
            self._spawn(self._server_to_client, server, client)

    def _client_to_server(self, client: socket.socket, server: socket.socket) -> None:
        try:
            while (message := _read_message(client)) is not None:
                _, request_id, response_to, op_code = _HEADER.unpack_from(message)
                body = message[_HEADER.size :]
                if op_code == OP_MSG:
                    body = self._race_if_first_upsert(request_id, body)
                header = _HEADER.pack(_HEADER.size + len(body), request_id, response_to, op_code)
                server.sendall(header + body)
        except OSError:
            pass  # a socket closed by the other side or by __exit__: this connection is over
        finally:
            server.close()
            client.close()

    def _server_to_client(self, server: socket.socket, client: socket.socket) -> None:
        try:
            while (message := _read_message(server)) is not None:
                _, _, response_to, op_code = _HEADER.unpack_from(message)
                if op_code == OP_MSG and response_to in self._raced_request_ids:
                    _, sections = _parse_op_msg(message[_HEADER.size :])
                    self.raced_replies.append(bson.decode(sections[0][1]))
                client.sendall(message)
        except OSError:
            pass  # as above
        finally:
            client.close()
            server.close()

    # --- the race ----------------------------------------------------------------------------------

    def _race_if_first_upsert(self, request_id: int, body: bytes) -> bytes:
        flags, sections = _parse_op_msg(body)
        if flags & _CHECKSUM_PRESENT or self._raced:
            return body
        command = bson.decode(sections[0][1])
        if command.get("update") != self.collection or command.get("$db") != self.database:
            return body
        in_sequence = [i for i, (kind, _) in enumerate(sections) if kind == 1]
        if in_sequence:
            identifier, raw_statements = _sequence_documents(sections[in_sequence[0]][1])
            statements = [bson.decode(raw) for raw in raw_statements]
        else:
            statements = list(command.get("updates", []))
        wanted = [
            i
            for i, statement in enumerate(statements)
            if statement.get("upsert") and all(statement["q"].get(k) == v for k, v in self.key.items())
        ]
        if not wanted:
            return body
        with self._lock:
            if self._raced:
                return body
            self._raced = True
        # The rival's insert, through the proxy's own connection, while the upsert is held.
        self._rival_client[self.database][self.collection].insert_one(dict(self.rival))
        statement = statements[wanted[0]]
        statement["q"] = {**statement["q"], "_id": {"$exists": False}}
        self._raced_request_ids.add(request_id)
        if in_sequence:  # only the raced statement is encoded again, the others go as they came
            raw_statements[wanted[0]] = bson.encode(statement)
            sections[in_sequence[0]] = (1, _sequence_section(identifier, raw_statements))
        else:
            command["updates"] = statements
            sections[0] = (0, bson.encode(command))
        return struct.pack("<I", flags) + b"".join(_section_bytes(kind, data) for kind, data in sections)


def _read_exactly(sock: socket.socket, size: int) -> bytes | None:
    chunks: list[bytes] = []
    while size:
        chunk = sock.recv(size)
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _read_message(sock: socket.socket) -> bytes | None:
    header = _read_exactly(sock, _HEADER.size)
    if header is None:
        return None
    rest = _read_exactly(sock, _HEADER.unpack(header)[0] - _HEADER.size)
    return None if rest is None else header + rest


def _parse_op_msg(body: bytes) -> tuple[int, list[tuple[int, bytes]]]:
    """``OP_MSG`` flag bits and sections: (0, the command document) and (1, a document sequence)."""
    (flags,) = struct.unpack_from("<I", body)
    end = len(body) - (4 if flags & _CHECKSUM_PRESENT else 0)
    sections: list[tuple[int, bytes]] = []
    offset = 4
    while offset < end:
        kind = body[offset]
        (size,) = struct.unpack_from("<i", body, offset + 1)
        sections.append((kind, body[offset + 1 : offset + 1 + size]))
        offset += 1 + size
    return flags, sections


def _sequence_documents(section: bytes) -> tuple[bytes, list[bytes]]:
    """A kind-1 section (size, identifier, documents) as its identifier and raw documents."""
    name_end = section.index(b"\x00", 4)
    identifier, offset, documents = section[4:name_end], name_end + 1, []
    while offset < len(section):
        (size,) = struct.unpack_from("<i", section, offset)
        documents.append(section[offset : offset + size])
        offset += size
    return identifier, documents


def _sequence_section(identifier: bytes, documents: list[bytes]) -> bytes:
    payload = identifier + b"\x00" + b"".join(documents)
    return struct.pack("<i", 4 + len(payload)) + payload


def _section_bytes(kind: int, data: bytes) -> bytes:
    return bytes([kind]) + data
