// GetObjectAttributes (GET ?attributes): an object's metadata without its body.
import { objectAttributesXml, parseObjectAttributes } from "../../s3/xml-attributes.js";
import { bucketOf, header, keyOf, type Handler } from "../context.js";
import { xmlResponse } from "../respond.js";
import { errors } from "../../s3/errors.js";

export const getObjectAttributes: Handler = async (context) => {
  const wanted = parseObjectAttributes(header(context, "x-amz-object-attributes"));
  const maxParts = headerInt(header(context, "x-amz-max-parts"), "x-amz-max-parts", 1000);
  const partNumberMarker = headerInt(header(context, "x-amz-part-number-marker"), "x-amz-part-number-marker", 0);
  // the metadata only, as HEAD: a remote object is not downloaded
  const { info } = await context.engine.statObject(bucketOf(context), keyOf(context));
  return xmlResponse(objectAttributesXml(info, wanted, { maxParts, partNumberMarker }), 200, { "last-modified": info.lastModified.toUTCString() });
};

/** x-amz-max-parts (at most 1000, as ListParts) and x-amz-part-number-marker: non-negative integers. */
function headerInt(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined || value === "") return fallback;
  if (!/^\d{1,9}$/.test(value.trim())) throw errors.invalidArgument(`${name} must be a non-negative integer`, name, value);
  return name === "x-amz-max-parts" ? Math.min(Number(value), 1000) : Number(value);
}
