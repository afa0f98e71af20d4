/** The first lines of every rendered file, in the file's comment syntax. */
export function renderedHeader(comment: string, what: string): string {
  return `${comment} ${what}, rendered by foobar from its model.\n${comment} Do not edit: \`foobar up\` overwrites it. Change foobar.yaml instead.\n`;
}
