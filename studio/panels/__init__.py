"""Side panels: inspector, preview, jobs (progress + cancel), log, message banner."""
