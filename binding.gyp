{
  "targets": [
    {
      "target_name": "mako_mapping",
      "conditions": [
        ["OS!='win'", { "sources": ["native/mapping.c"] }]
      ],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
