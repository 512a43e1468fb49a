// An Astro blog whose collection schema uses image(): covers are imported and processed by Astro.
import { defineConfig } from "astro/config";

export default defineConfig({ site: "https://example.org" });
