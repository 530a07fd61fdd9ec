"""Reading the outside world: mail parsing, provider events, mailbox sources, CSV."""
