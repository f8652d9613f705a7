"""``relance demo`` writes its emails as .eml files (and .html to open in a browser) and says where."""

from __future__ import annotations

import re
from email import message_from_bytes, policy

from click.testing import CliRunner

from relance.cli import cli


def test_the_demo_writes_its_emails_and_says_where(tmp_path, monkeypatch):
    data = tmp_path / "data"
    monkeypatch.setenv("RELANCE_DATA_DIR", str(data))
    for name in ("RELANCE_DATABASE_URL", "RELANCE_SECRET_KEY", "RELANCE_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(cli, ["demo"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    folder = data / "demo" / "emails"
    line = next(line for line in result.stdout.splitlines() if line.strip().startswith("messages"))
    assert "14 demo emails" in line and str(folder) in line
    opened = re.search(r"open one in a browser: (\S+)", result.stdout).group(1)
    assert opened.endswith("-abandoned_cart-1-fr.html")
    emls = sorted(folder.glob("*.eml"))
    assert len(emls) == 14 and len(list(folder.glob("*.html"))) == 14
    for path in emls:
        email = message_from_bytes(path.read_bytes(), policy=policy.default)
        assert email["Subject"] and email["From"] == "Maison Lumière <bonjour@maison-lumiere.example>"
        assert email.get_body(("plain",)).get_content().strip()
        if "double_opt_in" not in path.name:
            assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html = (folder / opened.rsplit("/", 1)[1]).read_text()
    assert "Finaliser ma commande" in html and "maison-lumiere.example" not in re.findall(r'href="([^"]+)"', html)[0]
    again = CliRunner().invoke(cli, ["demo"], catch_exceptions=False)
    assert "14 demo emails" in again.stdout and "new)" not in again.stdout.split("messages", 1)[1].splitlines()[0]
