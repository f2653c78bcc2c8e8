"""How to reach the mail server: its settings as plain values, TLS trust, and the socket to it.

The one SMTP conversation (conversation.py), of the test mail and of real mail alike, connects
through these functions, so a test mail proves exactly the path that real mail takes: the address
that was checked against the allowed destinations is the address that gets connected to, and TLS
is verified the same way.
"""

from __future__ import annotations

import ipaddress
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from autommate.sentences import sentence as _

if TYPE_CHECKING:
    from .models import MailServerSettings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Protocol = Literal["smtp", "smtps"]
AuthMethod = Literal["password", "oauth2", "google-service-account"]


# The greetings of a mail server that does not serve this client now (RFC 5321 §3.1, §4.2.2).
SMTP_REFUSAL_GREETINGS = frozenset({421, 554})
# What a login sends, as a code (never shown as it is: the messages name it in whole sentences).
PASSWORD = "password"
ACCESS_TOKEN = "access token"


class MailServerNotConfigured(Exception):
    """No mail server has been saved yet (server name or sender email is missing)."""


class InvalidCACertificate(ValueError):
    """The CA certificate field does not hold a usable PEM certificate."""


class NotAMailServer(ConnectionError):
    """Nothing on the port answered as a mail server: it refused the connection, stayed silent,
    closed it, or said something that is not an SMTP greeting.

    Which of these it was is not kept, and what the other side said is never repeated: told
    apart, they would map the services of a network port by port.
    """

    def __init__(self) -> None:
        super().__init__(_("No SMTP greeting on this port."))


class AddressNeedsSMTPUTF8(ValueError):
    """An address has non-ASCII letters before the @, and the server does not offer SMTPUTF8.

    A domain has an ASCII form (punycode), a local part has none: such an address can only be
    sent to a server that takes UTF-8 in its commands.
    """

    def __init__(self, address: str) -> None:
        super().__init__(
            f"{address} has non-ASCII letters before the @, and the server does not offer SMTPUTF8."
        )
        self.address = address


class ConflictingTLSSettings(ValueError):
    """SMTPS (TLS from the first byte) was combined with STARTTLS (TLS negotiated later)."""


class LoginWithoutTLS(Exception):
    """A login would send the password or access token over a connection without TLS, and
    Allow login without TLS is off; nothing was sent."""

    def __init__(self, credential: str) -> None:
        super().__init__(
            _("Not logged in: the connection is not encrypted, so the access token was not sent.")
            if credential == ACCESS_TOKEN
            else _("Not logged in: the connection is not encrypted, so the password was not sent.")
        )
        self.credential = credential


@dataclass(frozen=True)
class ServerConfig:
    """Everything needed to talk to a mail server, with the secrets already decrypted.

    The secrets are kept out of repr(), so that a logged or printed config never shows them.
    """

    host: str
    port: int
    protocol: Protocol = "smtp"
    use_tls: bool = True
    use_auth: bool = False
    auth_method: AuthMethod = "password"
    username: str = ""
    password: str = field(default="", repr=False)
    # Whether a login may send its credential over a connection without TLS.
    allow_insecure_login: bool = False
    ca_certificate: str = ""
    timeout_seconds: float = 10.0
    # OAuth 2.0 (client credentials grant) and the Google service account (JWT bearer grant).
    token_url: str = ""
    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    client_certificate: str = field(default="", repr=False)
    scope: str = ""
    service_account_key: str = field(default="", repr=False)
    # The name said in EHLO; empty means the host of AUTOMMATE_BASE_URL (greeting_name()).
    ehlo_name: str = ""

    @classmethod
    def from_values(cls, s: MailServerSettings, *, secrets: Mapping[str, str]) -> ServerConfig:
        """Return the config for settings that may be unsaved, with their secrets in clear."""
        protocol: Protocol = "smtps" if s.protocol == "smtps" else "smtp"
        use_auth = bool(s.use_auth)
        method: AuthMethod = "password"
        if use_auth and s.auth_method in ("oauth2", "google-service-account"):
            method = "oauth2" if s.auth_method == "oauth2" else "google-service-account"
        oauth2 = method == "oauth2"
        return cls(
            host=s.host.strip(),
            port=int(s.port),
            protocol=protocol,
            use_tls=bool(s.use_tls),
            use_auth=use_auth,
            auth_method=method,
            username=s.username if use_auth else "",
            password=secrets.get("password", "") if method == "password" else "",
            allow_insecure_login=use_auth and bool(s.allow_insecure_login),
            ca_certificate=s.ca_certificate.strip(),
            timeout_seconds=float(s.timeout_seconds or 10),
            token_url=s.token_url.strip() if oauth2 else "",
            client_id=s.client_id.strip() if oauth2 else "",
            client_secret=secrets.get("client_secret", "") if oauth2 else "",
            client_certificate=secrets.get("client_certificate", "") if oauth2 else "",
            scope=s.scope.strip() if oauth2 else "",
            service_account_key=secrets.get("service_account_key", "")
            if method == "google-service-account"
            else "",
            ehlo_name=s.ehlo_name.strip(),
        )

    @classmethod
    def from_settings(cls, s: MailServerSettings) -> ServerConfig:
        """Return the config for saved settings, decrypting the stored secrets."""
        return cls.from_values(s, secrets=s.secrets_in_use())

    @property
    def greeting_name(self) -> str:
        """Return the name said in EHLO: the EHLO name, or else the host of the public address."""
        return self.ehlo_name or default_ehlo_name()

    @property
    def uses_oauth(self) -> bool:
        """Whether the login is XOAUTH2 with an access token from a token endpoint."""
        return self.use_auth and self.auth_method != "password"

    @property
    def socket_timeout(self) -> float | None:
        """Return the timeout for each network operation; None (wait) when none is set."""
        return self.timeout_seconds if self.timeout_seconds > 0 else None

    @property
    def credential(self) -> str:
        """Return what a login sends, in words: the password, or an access token."""
        return ACCESS_TOKEN if self.uses_oauth else PASSWORD

    @property
    def implicit_tls(self) -> bool:
        return self.protocol == "smtps"

    @property
    def starttls(self) -> bool:
        return self.protocol == "smtp" and self.use_tls

    def check_tls_choice(self) -> None:
        """Refuse SMTPS together with STARTTLS: the two ways of starting TLS exclude each other."""
        if self.protocol == "smtps" and self.use_tls:
            raise ConflictingTLSSettings(
                _("SMTPS and Enable TLS (STARTTLS) were both chosen; they exclude each other.")
            )


class Deadline:
    """The time a whole conversation may take, however the server spreads out its replies."""

    def __init__(self, seconds: float) -> None:
        self.started = time.monotonic()
        self.ends = self.started + seconds
        self.expired = threading.Event()
        self._guards: list[socket.socket] = []
        self._watchdog: threading.Timer | None = None

    def remaining(self) -> float:
        return self.ends - time.monotonic()

    def next_timeout(self, per_step: float) -> float:
        """Return the time the next operation may take, or raise TimeoutError when none is left."""
        left = self.remaining()
        if left <= 0 or self.expired.is_set():
            raise TimeoutError("The time allowed for the test mail ran out.")
        return min(per_step, left) if per_step > 0 else left

    def watch(self, sock: socket.socket) -> None:
        """Cut the connection at the deadline, however slowly a server trickles its replies.

        Per-operation timeouts bound each wait, but a server that sends one byte at a time could
        stretch a multi-line reply indefinitely; shutting the socket down ends any wait at once.
        """
        self._guards.append(sock.dup())
        if self._watchdog is None:
            self._watchdog = threading.Timer(max(self.remaining(), 0.0), self._expire)
            self._watchdog.daemon = True
            self._watchdog.start()

    @contextmanager
    def watching(self, sock: socket.socket) -> Iterator[None]:
        """Watch the socket for as long as the block runs (the token request's connection)."""
        self.watch(sock)
        guard = self._guards[-1]
        try:
            yield
        finally:
            with suppress(ValueError):
                self._guards.remove(guard)
            guard.close()

    def _expire(self) -> None:
        self.expired.set()
        for guard in list(self._guards):
            with suppress(OSError):
                guard.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
        for guard in self._guards:
            guard.close()
        self._guards.clear()


def default_ehlo_name() -> str:
    """Return the name to greet with when none is set: the host of AUTOMMATE_BASE_URL.

    An address is said as an address literal (`[192.0.2.1]`, `[IPv6:2001:db8::1]`), as RFC 5321
    asks of a client without a name, and an internationalized name in its ASCII (punycode) form.
    """
    from django.conf import settings
    from django.utils.encoding import punycode

    host = urlsplit(settings.BASE_URL).hostname or "localhost"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host if host.isascii() else punycode(host)
    return f"[IPv6:{address}]" if address.version == 6 else f"[{address}]"


def load_saved_config() -> ServerConfig:
    """Return the config of the saved mail server, or raise MailServerNotConfigured."""
    from .models import MailServerSettings

    saved = MailServerSettings.objects.filter(pk=1).first()
    if saved is None or not saved.is_configured:
        raise MailServerNotConfigured(
            _(
                "No mail server is configured: enter the server name and sender email on the "
                "mail settings page."
            )
        )
    return ServerConfig.from_settings(saved)


def ssl_context(ca_certificate: str = "") -> ssl.SSLContext:
    """Return a client context that trusts the system's CAs plus the given PEM certificates.

    The server's certificate and name are always verified, and nothing older than TLS 1.2 is
    accepted; a private CA is supported by adding it, never by turning verification off.
    """
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    pem = ca_certificate.strip()
    if pem:
        if "-----BEGIN CERTIFICATE-----" not in pem:
            raise InvalidCACertificate(
                _(
                    "The CA certificate is not in PEM format: it should start with "
                    "-----BEGIN CERTIFICATE-----."
                )
            )
        try:
            context.load_verify_locations(cadata=pem)
        except (ssl.SSLError, ValueError) as error:
            raise InvalidCACertificate(
                _("The CA certificate could not be read as a PEM certificate (%(error)s).")
                % {"error": error}
            ) from None
    return context


def resolve(host: str, port: int) -> list[IPAddress]:
    """Return the addresses of host in the resolver's order, without duplicates."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        # The scope of a link-local IPv6 address ("fe80::1%eth0") is not part of the address.
        try:
            address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        except ValueError:  # Neither IPv4 nor IPv6: not a place to send mail to.
            continue
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return addresses


def resolve_within(host: str, port: int, timeout: float | None) -> list[IPAddress]:
    """Resolve like resolve(), giving up with TimeoutError after timeout seconds."""
    if timeout is None:
        return resolve(host, port)
    # getaddrinfo() takes no timeout, so it runs aside and is abandoned when the time is up.
    outcome: list[list[IPAddress] | Exception] = []

    def work() -> None:
        try:
            outcome.append(resolve(host, port))
        except Exception as error:
            outcome.append(error)

    worker = threading.Thread(target=work, name="mail-server-resolve", daemon=True)
    worker.start()
    worker.join(timeout)
    if not outcome:
        raise TimeoutError(f"Looking up {host} took too long.")
    result = outcome[0]
    if isinstance(result, Exception):
        raise result
    return result


def open_socket(addresses: list[IPAddress], port: int, timeout: float | None) -> socket.socket:
    """Connect to the first address that answers; raise the last error when none does."""
    last_error: OSError = OSError("No address to connect to.")
    for address in addresses:
        try:
            return socket.create_connection((str(address), port), timeout=timeout)
        except OSError as error:
            last_error = error
    raise last_error


class SMTPOverSocket(smtplib.SMTP):
    """An SMTP client over a socket that is already connected (and for SMTPS, already TLS).

    The socket is opened to an address that has been checked against the allowed destinations,
    so the name is never resolved a second time, while STARTTLS still verifies the certificate
    against the server name that the administrator entered.
    """

    def __init__(
        self, sock: socket.socket, *, host: str, port: int, local_hostname: str, timeout: float
    ) -> None:
        self._prepared_socket = sock
        self._prepared_port = port
        super().__init__(local_hostname=local_hostname, timeout=timeout)
        # smtplib verifies the certificate of STARTTLS against this name.
        self._host = host

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return self._prepared_socket

    def greet(self) -> tuple[int, bytes]:
        """Read the server's greeting and return it when it is 220.

        A 421 or 554 greeting is a mail server turning the connection away, and raises
        SMTPConnectError with its reply. Anything else (silence until the timeout, a closed
        connection, another protocol's banner, a reply code no greeting has) raises NotAMailServer.
        """
        try:
            code, reply = self.connect(self._host, self._prepared_port)
        except (OSError, smtplib.SMTPException) as error:
            self.close()
            raise NotAMailServer() from error
        if code == 220:
            return code, reply
        self.close()
        if code in SMTP_REFUSAL_GREETINGS:
            raise smtplib.SMTPConnectError(code, reply)
        raise NotAMailServer()
