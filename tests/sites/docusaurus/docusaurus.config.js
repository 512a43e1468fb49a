// A Docusaurus blog served under a subpath; blogart's covers go to static/img/covers/.
export default {
  title: "Harbour notes",
  url: "https://example.org",
  baseUrl: "/blog/",
  onBrokenLinks: "throw",
  presets: [
    [
      "classic",
      {
        docs: false,
        blog: { path: "blog", routeBasePath: "/", showReadingTime: false, onInlineAuthors: "ignore" },
      },
    ],
  ],
};
