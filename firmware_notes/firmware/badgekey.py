# Staff badge identifiers: keyed and rotating, so a bystander cannot follow a badge.
#
# A badge holds a 16-byte key (made by `doorcount badge add`) and advertises, as an
# Eddystone-EID frame (service data 0xFEAA, frame type 0x30), the first 8 bytes of
# HMAC-SHA256(key, b"doorcount-badge" + u32 little-endian minute slot), new every minute. A
# listener without the key sees an unrelated random value each minute. The node holds the
# keys of its site and resolves what it hears against the slots around its own clock.
# The gateway computes the same identifiers (gateway/core/badges.py); the tests check both
# give the same bytes on MicroPython and CPython.

import hashlib
import struct

SLOT_S = 60
EID_LEN = 8
SLACK = 2  # slots either side accepted: badge and node clocks may differ by 2 minutes
EDDYSTONE_UUID = 0xFEAA
EID_FRAME = 0x30
_LABEL = b"doorcount-badge"


def hmac_sha256(key, msg):
    """HMAC-SHA256 (RFC 2104); MicroPython has hashlib.sha256 but no hmac module."""
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    ipad = bytearray(64)
    opad = bytearray(64)
    for i in range(64):
        k = key[i] if i < len(key) else 0
        ipad[i] = k ^ 0x36
        opad[i] = k ^ 0x5C
    inner = hashlib.sha256(bytes(ipad))
    inner.update(msg)
    outer = hashlib.sha256(bytes(opad))
    outer.update(inner.digest())
    return outer.digest()


def eid(key, slot):
    """The identifier a badge with `key` advertises during minute `slot`."""
    return hmac_sha256(key, _LABEL + struct.pack("<I", slot & 0xFFFFFFFF))[:EID_LEN]


def eid_from_service_data(data):
    """The EID in an Eddystone service-data payload (frame type, tx power, 8 bytes), or None."""
    if len(data) != 2 + EID_LEN or data[0] != EID_FRAME:
        return None
    return bytes(data[2:])


def eid_from_adv(adv):
    """The EID of an Eddystone-EID advertisement (AD type 0x16, UUID 0xFEAA), or None."""
    i = 0
    n = len(adv)
    while i + 1 < n:
        length = adv[i]
        if length == 0 or i + 1 + length > n:
            return None
        if adv[i + 1] == 0x16 and length >= 3 and adv[i + 2] | adv[i + 3] << 8 == EDDYSTONE_UUID:
            return eid_from_service_data(adv[i + 4 : i + 1 + length])
        i += 1 + length
    return None


class Resolver:
    """Registered badge keys; says whether an identifier heard now belongs to one of them.

    Only "a registered badge" comes out: the node never reports which key matched.
    """

    def __init__(self, keys):
        self.keys = [bytes(k) for k in keys]
        self._slot = None
        self._known = {}

    def _refresh(self, slot):
        if slot == self._slot:
            return
        known = {}
        for i, key in enumerate(self.keys):
            for s in range(slot - SLACK, slot + SLACK + 1):
                known[eid(key, s)] = i
        self._known = known
        self._slot = slot

    def which(self, ident, unix_s):
        """The index of the registered key whose badge advertises `ident` around time
        `unix_s`, or None. For the node's RAM only (two badges in one episode are two
        staff): it is never sent."""
        if not self.keys:
            return None
        self._refresh(int(unix_s) // SLOT_S)
        return self._known.get(bytes(ident))

    def match(self, ident, unix_s):
        """True when `ident` is what a registered badge advertises around time `unix_s`."""
        return self.which(ident, unix_s) is not None
