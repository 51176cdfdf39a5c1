"""azoth/deps.py unpacks Debian's source archives (lwIP) with or without tarfile's "data" filter
(Debian 12's Python 3.11.2 lacks it): a member that would land outside its folder is refused,
a well-formed archive unpacks."""
import io
import tarfile

import pytest

from azoth import deps
from azoth.errors import AzothError


def archive(members):
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        for name, kind, link in members:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, link
            body = b"x" if kind == tarfile.REGTYPE else b""
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    data.seek(0)
    return tarfile.open(fileobj=data)


@pytest.mark.parametrize("members", [
    [("../evil", tarfile.REGTYPE, "")],
    [("/etc/evil", tarfile.REGTYPE, "")],
    [("lwip/link", tarfile.SYMTYPE, "../../outside")],
    [("lwip/dev", tarfile.CHRTYPE, "")],
], ids=["dotdot", "absolute", "symlink-out", "device"])
def test_a_member_outside_its_folder_is_refused(tmp_path, members, monkeypatch):
    monkeypatch.delattr(tarfile, "data_filter", raising=False)      # the 3.11.2 path
    with pytest.raises(AzothError) as refused:
        deps._extract(archive(members), tmp_path / "into", "x.orig.tar.gz")
    assert refused.value.code == "AZ-T010"
    assert not (tmp_path / "evil").exists()


def test_a_plain_archive_unpacks(tmp_path, monkeypatch):
    monkeypatch.delattr(tarfile, "data_filter", raising=False)
    members = [("lwip", tarfile.DIRTYPE, ""), ("lwip/a.c", tarfile.REGTYPE, ""),
               ("lwip/b.c", tarfile.SYMTYPE, "a.c")]
    deps._extract(archive(members), tmp_path, "x.orig.tar.gz")
    assert (tmp_path / "lwip" / "a.c").read_bytes() == b"x"
    assert (tmp_path / "lwip" / "b.c").read_bytes() == b"x"
