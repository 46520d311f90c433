console.log("envoy generation: not yet written");
