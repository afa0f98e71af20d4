/** Rendered YAML keeps each value on one line (PromQL above all): readable and diffable. */
export const YAML_OPTIONS = { lineWidth: 0, minContentWidth: 0 } as const;
