<?xml version="1.0" encoding="UTF-8"?>
<!--
  Zynk XML products (Export Stock Records) to Amazon prices (JSON_LISTINGS_FEED messages).

  One PATCH per product on /attributes/purchasable_offer: our_price value_with_tax in Currency for
  MarketplaceID, audience ALL. Sage's SalePrice is net, so VAT at TaxRate is added unless
  SalePriceIncludesTax is 'true'. A price of zero or less, or none, is not sent: it becomes <rejected>,
  which the upload step writes to the fail file.

  The price is rounded once, half up, to pence, after VAT is added to the unrounded net: a net of 10.825
  at 20% is 12.99, not 13.00. The arithmetic is in whole numbers, because XSLT 1.0 numbers are binary
  doubles (8.325 is really 8.32499999...): the net is taken in millionths of a pound (exact for the up to 6
  decimal places Sage shows), the rate in hundredths of a percent, and their product, in units of 1e-10
  pounds, is exact up to a net of about 750,000 before it is rounded to pence by integer division.

  Several marketplaces: when Export Stock Records priced the product for each marketplace of the
  connection (MarketplacePrices/Price, each in its marketplace's currency, already rounded once to its
  minor unit in Decimal), the message carries one offer per marketplace with its marketplace_id and
  currency, and a Price that could not be computed (its Error) becomes <rejected> for that marketplace.
-->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
                xmlns:json="urn:amazon-sage:json">
  <xsl:output method="xml" encoding="utf-8" indent="yes"/>

  <xsl:param name="MerchantID" select="''"/>
  <xsl:param name="MarketplaceID" select="'A1F83G8C2ARO7P'"/>
  <xsl:param name="Currency" select="'GBP'"/>
  <xsl:param name="TaxRate" select="'20'"/>
  <xsl:param name="SalePriceIncludesTax" select="'false'"/>
  <xsl:param name="ProductType" select="'PRODUCT'"/>

  <xsl:template match="/">
    <Feed>
      <xsl:apply-templates select="Company/Products/Product"/>
    </Feed>
  </xsl:template>

  <xsl:template match="Product[MarketplacePrices]">
    <xsl:variable name="sku" select="Sku"/>
    <xsl:for-each select="MarketplacePrices/Price[@Error]">
      <rejected sku="{$sku}"><xsl:value-of select="@MarketplaceId"/>: <xsl:value-of select="@Error"/></rejected>
    </xsl:for-each>
    <xsl:if test="MarketplacePrices/Price[not(@Error)]">
      <message>
        <sku><xsl:value-of select="Sku"/></sku>
        <operationType>PATCH</operationType>
        <productType><xsl:value-of select="$ProductType"/></productType>
        <patches json:array="true">
          <op>merge</op>
          <path>/attributes/purchasable_offer</path>
          <xsl:for-each select="MarketplacePrices/Price[not(@Error)]">
            <value json:array="true">
              <marketplace_id><xsl:value-of select="@MarketplaceId"/></marketplace_id>
              <currency><xsl:value-of select="@Currency"/></currency>
              <audience>ALL</audience>
              <our_price json:array="true">
                <schedule json:array="true">
                  <value_with_tax json:type="number"><xsl:value-of select="."/></value_with_tax>
                </schedule>
              </our_price>
            </value>
          </xsl:for-each>
        </patches>
      </message>
    </xsl:if>
  </xsl:template>

  <xsl:template match="Product">
    <xsl:variable name="millionths" select="round(number(SalePrice) * 1000000)"/>
    <!-- 10000 + the rate in hundredths of a percent (12000 at 20%), or 10000 when the price already has VAT. -->
    <xsl:variable name="factor" select="10000 + round(number($TaxRate) * 100) * number($SalePriceIncludesTax != 'true')"/>
    <xsl:variable name="units" select="$millionths * $factor"/>
    <xsl:variable name="remainder" select="$units mod 100000000"/>
    <xsl:variable name="pence" select="($units - $remainder) div 100000000 + number($remainder &gt;= 50000000)"/>
    <xsl:choose>
      <xsl:when test="string(number($pence)) = 'NaN' or $pence &lt;= 0">
        <rejected sku="{Sku}">Price <xsl:value-of select="SalePrice"/> is not above zero: not sent to Amazon. Set a sales price in Sage.</rejected>
      </xsl:when>
      <xsl:otherwise>
        <message>
          <sku><xsl:value-of select="Sku"/></sku>
          <operationType>PATCH</operationType>
          <productType><xsl:value-of select="$ProductType"/></productType>
          <patches json:array="true">
            <op>merge</op>
            <path>/attributes/purchasable_offer</path>
            <value json:array="true">
              <marketplace_id><xsl:value-of select="$MarketplaceID"/></marketplace_id>
              <currency><xsl:value-of select="$Currency"/></currency>
              <audience>ALL</audience>
              <our_price json:array="true">
                <schedule json:array="true">
                  <value_with_tax json:type="number"><xsl:value-of select="format-number($pence div 100, '0.00')"/></value_with_tax>
                </schedule>
              </our_price>
            </value>
          </patches>
        </message>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>
</xsl:stylesheet>
