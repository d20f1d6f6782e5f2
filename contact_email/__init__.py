"""Use case 1, the contact email: composing it from a validated form (`message`) and handing
it to the provider (`delivery`), blocking or awaited, with the retry policy of both."""
