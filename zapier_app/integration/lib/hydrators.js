'use strict';

// Generated images as Zapier files. An output carries `image_file`, a dehydrated pointer that
// costs nothing until a later step asks for the file; then Zapier runs downloadImage, which
// streams the image from Pi's image host into Zapier's file storage.

// Download with no credentials: beforeRequest only signs requests to the connector (see
// isConnectorUrl), and the image host is not the connector.
const downloadImage = async (z, bundle) => {
  const { url } = bundle.inputData;
  const response = await z.request({ url, raw: true, skipThrowForStatus: true });
  if (response.status >= 400) {
    throw new z.errors.Error(
      `Could not download the image (HTTP ${response.status}) from ${url}`,
      'image_download_failed',
      response.status,
    );
  }
  return z.stashFile(response);
};

const hydrators = { downloadImage };

// Add `image_file` to a job object: a file when the job has an image, otherwise null. The
// image_url stays, for steps that want the link rather than the file.
const withImageFile = (z, object) => {
  if (!object || typeof object !== 'object') {
    return object;
  }
  const url = object.image_url;
  return {
    ...object,
    image_file: url ? z.dehydrateFile(hydrators.downloadImage, { url }) : null,
  };
};

module.exports = { hydrators, withImageFile };
