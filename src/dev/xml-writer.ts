/**
 * A minimal element tree printed the way PHP's DOMDocument::saveXML prints with
 * formatOutput = true (what kaltura/server does for the Wowza transcode template):
 * `<?xml version="1.0"?>` header, two-space indent, childless elements as `<Name/>`.
 */

export class XmlElement {
  readonly children: XmlElement[] = [];

  constructor(
    readonly name: string,
    readonly text?: string,
  ) {}

  /** SimpleXMLElement::addChild: appends and returns the new child. */
  add(name: string, value?: string | number | boolean): XmlElement {
    const child = new XmlElement(name, value === undefined ? undefined : String(value));
    this.children.push(child);
    return child;
  }
}

export function printXmlDocument(root: XmlElement): string {
  return `<?xml version="1.0"?>\n${printElement(root, '')}\n`;
}

function printElement(el: XmlElement, indent: string): string {
  if (el.children.length > 0) {
    const inner = el.children.map((c) => printElement(c, `${indent}  `)).join('\n');
    return `${indent}<${el.name}>\n${inner}\n${indent}</${el.name}>`;
  }
  if (el.text === undefined || el.text === '') return `${indent}<${el.name}/>`;
  return `${indent}<${el.name}>${escapeText(el.text)}</${el.name}>`;
}

function escapeText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
