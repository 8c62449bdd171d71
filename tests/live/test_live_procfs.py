"""Decoding /proc for the live backend, on fixed text and fixed pagemap words (no sandbox).

Expected values come from the kernel's documented formats: pagemap bits from
Documentation/admin-guide/mm/pagemap.rst (63 present, 62 swapped, 61 file/shared-anon,
58 guard region), smaps VmFlags mnemonics from show_smap_vma_flags() in fs/proc/task_mmu.c.
"""

from __future__ import annotations

import pytest

from pytest_anonvma import constants as C
from pytest_anonvma.contract import PageState
from pytest_anonvma.live.procfs import (
    PM_FILE,
    PM_GUARD_REGION,
    PM_PRESENT,
    PM_SWAP,
    SMAPS_FLAGS,
    file_name,
    page_state,
    parse_smaps,
    vma_info,
)
from pytest_anonvma.live.protocol import REQUEST, Op, encode_request
from pytest_anonvma.model.mm_types import VM_FLAG_NAMES

SMAPS = """\
200000000000-200000002000 rw-p 00000000 00:00 0
Size:                  8 kB
Rss:                   4 kB
VmFlags: rd wr mr mw me ac gu
200000008000-20000000a000 rw-s 00003000 00:01 1042                       /memfd:my file (deleted)
Size:                  8 kB
THPeligible:           0
VmFlags: rd wr sh mr mw me ms
20000000c000-20000000d000 ---p 00000000 00:00 0
VmFlags: mr mw me zz
7ffd1000-7ffd2000 rw-p 00000000 00:00 0                          [stack]
VmFlags: rd wr mr mw me gd ac
"""


def test_pagemap_bits_decode_to_page_states() -> None:
    """pagemap.rst: a guard marker is a non-present swap-type entry with bit 58 (the kernel also
    sets PM_SWAP for it, pte_to_pagemap_entry); present or swapped pages hold data; 0 is empty."""
    assert page_state(0) is PageState.NONE
    assert page_state(PM_PRESENT | 0x1234) is PageState.PRESENT
    assert page_state(PM_PRESENT | PM_FILE) is PageState.PRESENT
    assert page_state(PM_SWAP) is PageState.PRESENT
    assert page_state(PM_SWAP | PM_GUARD_REGION) is PageState.GUARD
    assert page_state(PM_GUARD_REGION) is PageState.GUARD
    assert page_state(PM_FILE) is PageState.NONE


def test_smaps_entries_are_parsed_with_their_vmflags() -> None:
    """Header lines are /proc/PID/maps lines; the VmFlags line closes each entry."""
    entries = list(parse_smaps(SMAPS))
    assert [(e.start, e.end) for e in entries] == [
        (0x2000_0000_0000, 0x2000_0000_2000),
        (0x2000_0000_8000, 0x2000_0000_A000),
        (0x2000_0000_C000, 0x2000_0000_D000),
        (0x7FFD1000, 0x7FFD2000),
    ]
    assert entries[0].vmflags == ("rd", "wr", "mr", "mw", "me", "ac", "gu")
    assert entries[1].path == "/memfd:my file (deleted)"
    assert entries[1].offset == 0x3000


def test_vma_info_maps_flags_prot_file_and_pgoff() -> None:
    """VMAInfo uses the kernel flag names; pgoff (pages) only for file VMAs; memfd name only."""
    anon, memfd, none, stack = (vma_info(e) for e in parse_smaps(SMAPS))
    assert anon.prot == C.PROT_READ | C.PROT_WRITE
    assert anon.flags == {"VM_READ", "VM_WRITE", "VM_MAYREAD", "VM_MAYWRITE", "VM_MAYEXEC",
                          "VM_ACCOUNT", "VM_MAYBE_GUARD"}
    assert (anon.file, anon.pgoff, anon.anon_vma, anon.anon_vma_flags) == (None, 0, None, 0)
    assert not anon.maybe_has_pagetables
    assert memfd.file == "my file"
    assert memfd.pgoff == 3
    assert {"VM_SHARED", "VM_MAYSHARE"} <= memfd.flags
    assert none.prot == C.PROT_NONE
    assert "smaps:zz" in none.flags  # an unknown mnemonic is kept, not dropped
    assert stack.file is None
    assert "VM_GROWSDOWN" in stack.flags


def test_every_model_flag_name_has_its_smaps_mnemonic() -> None:
    """Every VM_* name the model uses (model/mm_types.py) has a mnemonic in smaps
    (show_smap_vma_flags prints each of these bits), so live and model flags compare by name."""
    assert set(VM_FLAG_NAMES.values()) - set(SMAPS_FLAGS.values()) == set()


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("", None),
        ("[heap]", None),
        ("[anon:arena]", None),
        ("/dev/zero (deleted)", "/dev/zero"),
        ("/memfd:a (deleted)", "a"),
        ("/memfd:with space (deleted)", "with space"),
        ("/usr/lib/libc.so.6", "/usr/lib/libc.so.6"),
    ],
)
def test_file_name(path: str, expected: str | None) -> None:
    """memfd paths print as "/memfd:NAME (deleted)"; shared anonymous memory as
    "/dev/zero (deleted)", which the contract names "/dev/zero" (mm/shmem.c's shmem_zero_setup
    names the file dev/zero)."""
    assert file_name(path) == expected


def test_request_encoding_rejects_unrepresentable_arguments() -> None:
    """Arguments travel as 64-bit registers: -1 is all ones, 2**64 does not fit, names <= 255."""
    packed = encode_request(Op.MMAP, (0, 4096, 3, 0x22, -1, 0))
    assert REQUEST.unpack(packed)[6] == (1 << 64) - 1
    with pytest.raises(ValueError, match="mmap: argument 1"):
        encode_request(Op.MMAP, (0, 1 << 64))
    with pytest.raises(ValueError, match="memfd: name is 300 bytes"):
        encode_request(Op.MEMFD, (0,), b"x" * 300)
