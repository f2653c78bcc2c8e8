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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from .models import MailServerSettings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Protocol = Literal["smtp", "smtps"]


class MailServerNotConfigured(Exception):
    """No mail server has been saved yet (server name or sender email is missing)."""


class InvalidCACertificate(ValueError):
    """The CA certificate field does not hold a usable PEM certificate."""


class ConflictingTLSSettings(ValueError):
    """SMTPS (TLS from the first byte) was combined with STARTTLS (TLS negotiated later)."""


@dataclass(frozen=True)
class ServerConfig:
    """Everything needed to talk to a mail server, with the password already decrypted."""

    host: str
    port: int
    protocol: Protocol = "smtp"
    use_tls: bool = True
    use_auth: bool = False
    username: str = ""
    # Kept out of repr() so that a logged or printed config never shows the secret.
    password: str = field(default="", repr=False)
    ca_certificate: str = ""
    timeout_seconds: float = 10.0

    @classmethod
    def from_values(cls, s: MailServerSettings, *, password: str) -> ServerConfig:
        """Return the config for settings that may be unsaved, with the password given in clear."""
        protocol: Protocol = "smtps" if s.protocol == "smtps" else "smtp"
        return cls(
            host=s.host.strip(),
            port=int(s.port),
            protocol=protocol,
            use_tls=bool(s.use_tls),
            use_auth=bool(s.use_auth),
            username=s.username if s.use_auth else "",
            password=password if s.use_auth else "",
            ca_certificate=s.ca_certificate.strip(),
            timeout_seconds=float(s.timeout_seconds or 10),
        )

    @classmethod
    def from_settings(cls, s: MailServerSettings) -> ServerConfig:
        """Return the config for saved settings, decrypting the stored password."""
        return cls.from_values(s, password=s.password() if s.use_auth else "")

    @property
    def socket_timeout(self) -> float | None:
        """Return the timeout for each network operation; None (wait) when none is set."""
        return self.timeout_seconds if self.timeout_seconds > 0 else None

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
                "SMTPS and Enable TLS (STARTTLS) were both chosen; they exclude each other."
            )


def load_saved_config() -> ServerConfig:
    """Return the config of the saved mail server, or raise MailServerNotConfigured."""
    from .models import MailServerSettings

    saved = MailServerSettings.objects.filter(pk=1).first()
    if saved is None or not saved.is_configured:
        raise MailServerNotConfigured(
            "No mail server is configured: enter the server name and sender email on the "
            "mail settings page."
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
                "The CA certificate is not in PEM format: it should start with "
                "-----BEGIN CERTIFICATE-----."
            )
        try:
            context.load_verify_locations(cadata=pem)
        except (ssl.SSLError, ValueError) as error:
            raise InvalidCACertificate(
                f"The CA certificate could not be read as a PEM certificate ({error})."
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
        """Read the server's greeting; raise SMTPConnectError unless it is 220."""
        code, reply = self.connect(self._host, self._prepared_port)
        if code != 220:
            self.close()
            raise smtplib.SMTPConnectError(code, reply)
        return code, reply
