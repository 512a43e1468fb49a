// An Astro blog whose heroImage is a plain string: a URL of a file in public/.
import { defineConfig } from "astro/config";

export default defineConfig({ site: "https://example.org" });
