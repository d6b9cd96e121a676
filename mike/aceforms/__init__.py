"""ACE forms' public pages: `/f/<slug>/` and `/f/<slug>/embed/` (for an iframe on a client's
site or a landing page), built from the form's fields, matched to a recipient by `?code=`, `?t=`
(the recipient's token) or the redemption code typed in, and protected against spam by a
honeypot, a minimum fill time and a rate limit per client address."""
