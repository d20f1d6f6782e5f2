"""The contact form all three apps share: settings, form, email, delivery, templates and pages."""
